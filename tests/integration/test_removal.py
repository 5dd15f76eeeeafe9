"""Removal: a deleted or untagged app loses its principal only where the catalog says ``on_remove: revoke``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from provisioning.models import Engine
from provisioning.plan import DropPrincipal, SetAppSettings
from provisioning.principal_names import principal_name
from provisioning.reconciler import Mode
from provisioning.resource_ids import parse_app_id
from tests.estates import APPS_GROUP, SUBSCRIPTION

pytestmark = pytest.mark.integration


def role_exists(pg_connect: Any, name: str) -> bool:
    with pg_connect("postgres", "postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (name,))
        return bool(cur.fetchone()[0])


def provisioned(emulator: Any, runtime: Any, tag: str) -> Any:
    app = parse_app_id(
        emulator.create_site(
            SUBSCRIPTION,
            APPS_GROUP,
            f"gone-{uuid.uuid4().hex[:8]}",
            tags={"passwordless": tag},
            app_settings={"OTHER": "stays"},
        )
    )
    runtime.reconciler.reconcile_app(app)
    return app


def test_deleted_app_on_a_revoke_target_loses_its_principal(emulator: Any, runtime: Any, pg_connect: Any) -> None:
    app = provisioned(emulator, runtime, "ledger:reader")
    name = principal_name(app, Engine.POSTGRES)
    assert role_exists(pg_connect, name)
    emulator.delete_site(app.id)
    planned = runtime.reconciler.remove_app(app, Mode.PLAN)
    assert [type(s) for s in planned.plan.steps] == [DropPrincipal]
    assert any(statement.startswith("DROP ROLE") for statement in planned.plan.steps[0].sql)
    assert role_exists(pg_connect, name)
    assert runtime.reconciler.remove_app(app).applied
    assert not role_exists(pg_connect, name)
    assert runtime.reconciler.remove_app(app, Mode.PLAN).plan.empty


def test_deleted_app_on_a_report_target_keeps_its_principal(emulator: Any, runtime: Any, pg_connect: Any) -> None:
    app = provisioned(emulator, runtime, "orders:reader")
    emulator.delete_site(app.id)
    assert runtime.reconciler.remove_app(app).plan.empty
    assert role_exists(pg_connect, principal_name(app, Engine.POSTGRES))


def test_removed_tag_drops_principal_and_only_the_managed_settings(
    emulator: Any, runtime: Any, pg_connect: Any
) -> None:
    app = provisioned(emulator, runtime, "ledger:writer")
    emulator.set_tags(app.id, {"owner": "team-a"})
    result = runtime.reconciler.reconcile_app(app)
    assert [type(s) for s in result.plan.steps] == [DropPrincipal, SetAppSettings]
    assert emulator.app_settings(app.id) == {"OTHER": "stays"}
    assert not role_exists(pg_connect, principal_name(app, Engine.POSTGRES))
    assert runtime.reconciler.reconcile_app(app) is None  # nothing left that is ours
