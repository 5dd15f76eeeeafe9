"""Identities and slots against the emulator and the real PostgreSQL: nothing attached is ever dropped."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from psycopg2 import errors

from provisioning.models import Engine
from provisioning.plan import AttachUserIdentity, CreateUserIdentity, EnableSystemIdentity
from provisioning.principal_names import principal_name
from provisioning.reconciler import Mode
from provisioning.resource_ids import parse_app_id
from tests.estates import APPS_GROUP, SUBSCRIPTION, TEAM_B_GROUP, user_identity_id

pytestmark = pytest.mark.integration
SHARED_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/shared-id"
)


def tagged(emulator: Any, tags: dict[str, str]) -> Any:
    return parse_app_id(emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"id-{uuid.uuid4().hex[:8]}", tags=tags))


def attached(emulator: Any, app: Any) -> dict[str, Any]:
    identity = emulator.site(app.id).get("identity") or {}
    return {rid.lower(): ids for rid, ids in (identity.get("userAssignedIdentities") or {}).items()}


def test_existing_user_assigned_identity_is_attached_and_bound(emulator: Any, runtime: Any, pg_connect: Any) -> None:
    app = tagged(emulator, {"passwordless": "orders:reader", "passwordless-identity": SHARED_ID})
    result = runtime.reconciler.reconcile_app(app)
    assert isinstance(result.plan.steps[0], AttachUserIdentity)
    ids = attached(emulator, app)[SHARED_ID.lower()]
    assert emulator.identity_of(app.id) is None  # no system identity was switched on
    settings = emulator.app_settings(app.id)
    assert settings["AZURE_POSTGRESQL_CLIENTID"] == ids["clientId"].lower()
    with pg_connect("postgres", "postgres") as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT objectid FROM pgaadauth_list_principals(false) WHERE rolname = %s",
            (principal_name(app, Engine.POSTGRES),),
        )
        assert cur.fetchone() == (ids["principalId"].lower(),)
    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty


def test_create_identity_makes_it_in_the_apps_group(emulator: Any, runtime: Any) -> None:
    name = f"made-{uuid.uuid4().hex[:6]}"
    app = tagged(emulator, {"passwordless": "orders:reader", "passwordless-identity": f"create:{name}"})
    result = runtime.reconciler.reconcile_app(app)
    assert [type(s) for s in result.plan.steps[:2]] == [CreateUserIdentity, AttachUserIdentity]
    (rid,) = attached(emulator, app)
    assert rid.endswith(
        f"/resourcegroups/{APPS_GROUP}/providers/microsoft.managedidentity/userassignedidentities/{name}"
    )
    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty


def test_system_identity_switched_off_comes_back_without_detaching_user_assigned(emulator: Any, runtime: Any) -> None:
    app = tagged(emulator, {"passwordless": "orders:reader"})
    runtime.reconciler.reconcile_app(app)
    emulator.attach_user_identity(app.id, SHARED_ID)
    emulator.disable_system_identity(app.id)
    planned = runtime.reconciler.reconcile_app(app, Mode.PLAN)
    enable = planned.plan.steps[0]
    assert isinstance(enable, EnableSystemIdentity)
    assert [rid.lower() for rid in enable.keep_user_assigned] == [SHARED_ID.lower()]
    runtime.reconciler.reconcile_app(app)
    assert emulator.identity_of(app.id) is not None
    assert SHARED_ID.lower() in attached(emulator, app)
    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty


def test_slot_has_its_own_identity_principal_and_settings(emulator: Any, runtime: Any, pg_connect: Any) -> None:
    name = f"slotted-{uuid.uuid4().hex[:6]}"
    site_id = emulator.create_site(
        SUBSCRIPTION, APPS_GROUP, name, tags={"passwordless": "orders:writer"}, app_settings={"STICKY": "production"}
    )
    slot_id = emulator.create_site(
        SUBSCRIPTION,
        APPS_GROUP,
        name,
        tags={"passwordless": "orders:reader"},
        app_settings={"STICKY": "staging"},
        slot="staging",
    )
    site, slot = parse_app_id(site_id), parse_app_id(slot_id)
    runtime.reconciler.reconcile_app(site)
    runtime.reconciler.reconcile_app(slot)
    site_principal, slot_principal = principal_name(site, Engine.POSTGRES), principal_name(slot, Engine.POSTGRES)
    assert slot_principal == f"{name}.staging" and site_principal == name
    assert emulator.identity_of(site_id) != emulator.identity_of(slot_id)
    assert emulator.app_settings(slot_id)["STICKY"] == "staging"
    assert emulator.app_settings(site_id)["STICKY"] == "production"
    assert slot_principal in emulator.app_settings(slot_id)["AZURE_POSTGRESQL_CONNECTIONSTRING"]
    with pg_connect(slot_principal) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("INSERT INTO orders (item) VALUES ('from staging')")


def test_an_identity_the_request_stops_naming_is_reported_only_if_the_provisioner_attached_it(
    emulator: Any, runtime: Any
) -> None:
    app = tagged(emulator, {"passwordless": "orders:reader", "passwordless-identity": SHARED_ID})
    runtime.reconciler.reconcile_app(app)
    team_own = user_identity_id(TEAM_B_GROUP, "team-b-prod-id")
    emulator.attach_user_identity(app.id, team_own)  # attached by hand, not by the provisioner
    emulator.set_tags(app.id, {"passwordless": "orders:reader", "passwordless-identity": f"create:n-{app.site}"})
    runtime.reconciler.reconcile_app(app)
    planned = runtime.reconciler.reconcile_app(app, Mode.PLAN).plan
    assert planned.empty and planned.unrequested_identities == (SHARED_ID.lower(),)
    assert {SHARED_ID.lower(), team_own.lower()} <= set(attached(emulator, app))  # nothing detached
