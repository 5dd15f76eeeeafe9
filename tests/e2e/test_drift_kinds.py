"""Every drift kind, injected by hand on one app, is found by the audit as exactly that kind on
exactly that app (through Resource Graph discovery, like the timer's audit)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from psycopg2 import sql

from provisioning.audit import DriftKind, audit
from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.resource_ids import AppRef, parse_app_id
from tests.estates import APPS_GROUP, SUBSCRIPTION

pytestmark = pytest.mark.integration
SHARED_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/shared-id"
)


def provisioned(
    emulator: Any, runtime: Any, tags: dict[str, str], *, group: str = APPS_GROUP, apply: bool = True
) -> AppRef:
    app = parse_app_id(
        emulator.create_site(
            SUBSCRIPTION, group, f"drift-{uuid.uuid4().hex[:8]}", tags=tags, app_settings={"UNRELATED": "1"}
        )
    )
    if apply:
        runtime.reconciler.reconcile_app(app)
    return app


def as_postgres(pg_connect: Any, statement: sql.Composable, database: str | None = None) -> None:
    with pg_connect("postgres", database) as conn, conn.cursor() as cur:
        cur.execute(statement)


def drop_role(pg_connect: Any, name: str) -> None:
    role = sql.Identifier(name)
    as_postgres(pg_connect, sql.SQL("DROP OWNED BY {}").format(role))
    for database in ("postgres",):
        as_postgres(pg_connect, sql.SQL("DROP OWNED BY {}").format(role), database)
    as_postgres(pg_connect, sql.SQL("DROP ROLE {}").format(role), "postgres")


Injection = Callable[[Any, Any, AppRef], None]
CASES: list[tuple[DriftKind, dict[str, str], Injection]] = [
    (DriftKind.IDENTITY_DISABLED, {}, lambda emu, pg, app: emu.disable_system_identity(app.id)),
    (
        DriftKind.IDENTITY_DETACHED,
        {"passwordless-identity": SHARED_ID},
        lambda emu, pg, app: emu.detach_user_identity(app.id, SHARED_ID),
    ),
    (DriftKind.PRINCIPAL_MISSING, {}, lambda emu, pg, app: drop_role(pg, principal_name(app, Engine.POSTGRES))),
    (DriftKind.PRINCIPAL_STALE_BINDING, {}, lambda emu, pg, app: emu.recreate_system_identity(app.id)),
    (
        DriftKind.PRIVILEGE_MISSING,
        {},
        lambda emu, pg, app: as_postgres(
            pg, sql.SQL("REVOKE INSERT ON orders FROM {}").format(sql.Identifier(principal_name(app, Engine.POSTGRES)))
        ),
    ),
    (
        DriftKind.PRIVILEGE_EXCESS,
        {},
        lambda emu, pg, app: as_postgres(
            pg, sql.SQL("GRANT TRUNCATE ON orders TO {}").format(sql.Identifier(principal_name(app, Engine.POSTGRES)))
        ),
    ),
    (
        DriftKind.SETTING_MISSING,
        {},
        lambda emu, pg, app: emu.set_app_setting(app.id, "AZURE_POSTGRESQL_CONNECTIONSTRING", None),
    ),
    (
        DriftKind.SETTING_CHANGED,
        {},
        lambda emu, pg, app: emu.set_app_setting(app.id, "AZURE_POSTGRESQL_CONNECTIONSTRING", "edited by hand"),
    ),
]


@pytest.mark.parametrize(("kind", "extra_tags", "inject"), CASES, ids=[c[0].value for c in CASES])
def test_injected_drift_is_found_as_exactly_that_kind(
    emulator: Any, runtime: Any, pg_connect: Any, kind: DriftKind, extra_tags: dict[str, str], inject: Injection
) -> None:
    app = provisioned(emulator, runtime, {"passwordless": "orders:writer", **extra_tags})
    bystander = provisioned(emulator, runtime, {"passwordless": "orders:writer"})
    inject(emulator, pg_connect, app)
    report = audit(runtime.reconciler, discovered(runtime, app, bystander))
    by_app = {a.app.key: a for a in report.apps}
    assert [d.kind for d in by_app[app.key].drift] == [kind]
    assert by_app[bystander.key].drift == ()


@pytest.mark.parametrize(
    ("kind", "tags", "group"),
    [
        (DriftKind.REQUEST_INVALID, {"passwordless": "orders"}, APPS_GROUP),
        (DriftKind.POLICY_DENIED, {"passwordless": "orders:reader"}, "rg-elsewhere"),
        (DriftKind.ADMIN_MISSING, {"passwordless": "foreign:reader"}, APPS_GROUP),
    ],
)
def test_refused_requests_are_reported_as_their_kind(
    emulator: Any, runtime: Any, kind: DriftKind, tags: dict[str, str], group: str
) -> None:
    app = provisioned(emulator, runtime, tags, group=group, apply=False)
    (found,) = audit(runtime.reconciler, discovered(runtime, app)).apps
    assert [d.kind for d in found.drift] == [kind]


def test_a_principal_whose_app_is_gone_is_an_orphan(emulator: Any, runtime: Any) -> None:
    app = provisioned(emulator, runtime, {"passwordless": "orders:reader"})
    emulator.delete_site(app.id)  # on_remove: report (the default) keeps the principal
    report = audit(runtime.reconciler, [])
    name = principal_name(app, Engine.POSTGRES)
    mine = [d for d in report.orphans if f"principal {name!r}" in d.detail]
    assert [(d.kind, d.target) for d in mine] == [(DriftKind.ORPHAN_PRINCIPAL, "orders")]


def discovered(runtime: Any, *apps: AppRef) -> list[Any]:
    wanted = {app.key for app in apps}
    return [site for site in runtime.discovery.list_tagged_apps() if site.app.key in wanted]
