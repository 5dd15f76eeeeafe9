"""Two live apps share a site name (other resource groups), so their principals share a name on one
server. The second app never takes the first one's principal: a ``principal-conflict`` naming both,
and the first app's principal still logs in, bound to its identity. A deleted app's principal is
still rebound for the app recreated under its id, and removing a deleted app never drops a live
namesake's principal."""

from __future__ import annotations

import json
import uuid
from typing import Any

import azure.functions as func
import pytest

from provisioning.audit import DriftKind
from provisioning.errors import PrincipalConflict
from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.reconciler import Mode
from provisioning.resource_ids import parse_app_id
from provisioning.runtime import shared_runtime
from tests.e2e.test_event_to_audit import as_function_event, events_for
from tests.estates import APPS_GROUP, SUBSCRIPTION, TEAM_B_GROUP
from tests.functions_index import user_function
from tests.security.conftest import arm_writes, principal_header, role_binding

pytestmark = pytest.mark.integration
APPLY = {"X-MS-CLIENT-PRINCIPAL": principal_header("Passwordless.Apply")}


def reads_orders(pg_connect: Any, principal: str) -> int:
    """Log in as the principal, the way its app does, and read what its grant allows."""
    with pg_connect(principal) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        return int(cur.fetchone()[0])


def provisioned(emulator: Any, runtime: Any, group: str, name: str, tag: str) -> Any:
    app = parse_app_id(emulator.create_site(SUBSCRIPTION, group, name, tags={"passwordless": tag}))
    assert runtime.reconciler.reconcile_app(app).applied
    return app


def test_a_namesake_in_another_resource_group_gets_a_conflict_and_the_first_keeps_its_access(
    emulator: Any, runtime: Any, http: Any, pg_connect: Any
) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    first = provisioned(emulator, runtime, APPS_GROUP, name, "orders:writer")
    principal = principal_name(first, Engine.POSTGRES)
    first_identity, _ = emulator.identity_of(first.id)
    assert role_binding(pg_connect, principal) == first_identity
    assert reads_orders(pg_connect, principal) >= 1

    second = emulator.create_site(SUBSCRIPTION, TEAM_B_GROUP, name)
    emulator.clear_requests()
    status, problem = http("apply", {"app": second, "connections": "orders:writer"}, APPLY)
    assert status == 409 and problem["title"] == "Conflict"
    assert first.id in problem["detail"] and second in problem["detail"]
    assert arm_writes(emulator) == []  # not even the second app's identity was switched on
    assert emulator.identity_of(second) is None and emulator.app_settings(second) == {}

    emulator.set_tags(second, {"passwordless": "orders:writer"})  # the tag path: same refusal
    with pytest.raises(PrincipalConflict) as refused:
        runtime.reconciler.reconcile_app(parse_app_id(second))
    assert refused.value.holders == (first.id,)
    request = func.HttpRequest(method="GET", url="/api/connections", body=b"", params={"app": second})
    status_document = json.loads(user_function("http_connection_status")(request).get_body())
    assert [d["kind"] for d in status_document["drift"]] == [DriftKind.PRINCIPAL_CONFLICT.value]

    assert role_binding(pg_connect, principal) == first_identity  # not moved
    assert reads_orders(pg_connect, principal) >= 1  # the first app still logs in
    assert runtime.reconciler.reconcile_app(first, Mode.PLAN).plan.empty


def test_a_deleted_apps_principal_is_rebound_for_the_app_recreated_under_its_name(
    emulator: Any, runtime: Any, pg_connect: Any
) -> None:
    name = f"phoenix-{uuid.uuid4().hex[:8]}"
    old = provisioned(emulator, runtime, APPS_GROUP, name, "orders:reader")
    principal = principal_name(old, Engine.POSTGRES)
    old_identity, _ = emulator.identity_of(old.id)
    emulator.delete_site(old.id)  # orders keeps principals on delete (on_remove: report)

    new = provisioned(emulator, runtime, APPS_GROUP, name, "orders:reader")
    new_identity, _ = emulator.identity_of(new.id)
    assert new_identity != old_identity
    assert role_binding(pg_connect, principal) == new_identity
    assert reads_orders(pg_connect, principal) >= 1


def test_removing_a_deleted_app_never_drops_a_live_namesakes_principal(
    emulator: Any, runtime: Any, pg_connect: Any
) -> None:
    """ledger is ``on_remove: revoke``: the deleted app's removal would once drop whatever had its name."""
    name = f"twin-{uuid.uuid4().hex[:8]}"
    live = provisioned(emulator, runtime, TEAM_B_GROUP, name, "ledger:reader")
    principal = principal_name(live, Engine.POSTGRES)
    live_identity, _ = emulator.identity_of(live.id)
    gone = parse_app_id(emulator.create_site(SUBSCRIPTION, APPS_GROUP, name, tags={"passwordless": "ledger:reader"}))
    with pytest.raises(PrincipalConflict):
        runtime.reconciler.reconcile_app(gone)
    emulator.delete_site(gone.id)

    emulator.clear_requests()
    assert runtime.reconciler.remove_app(gone).plan.empty
    assert role_binding(pg_connect, principal) == live_identity
    assert arm_writes(emulator) == []


def test_a_mysql_namesake_is_a_conflict_too_where_the_binding_is_a_client_id(
    emulator: Any, runtime: Any, mysql_connect: Any
) -> None:
    """MySQL binds to the client id, which no site resource carries: the holder is found through the
    same-named sites' identities/default."""
    name = f"mys-{uuid.uuid4().hex[:8]}"
    first = provisioned(emulator, runtime, APPS_GROUP, name, "orders-mysql:reader")
    principal = principal_name(first, Engine.MYSQL)
    with mysql_connect(principal) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        assert cur.fetchone()[0] >= 1

    second = parse_app_id(
        emulator.create_site(SUBSCRIPTION, TEAM_B_GROUP, name, tags={"passwordless": "orders-mysql:reader"})
    )
    emulator.clear_requests()
    with pytest.raises(PrincipalConflict) as refused:
        runtime.reconciler.reconcile_app(second)
    assert refused.value.holders == (first.id,)
    assert arm_writes(emulator) == [] and emulator.identity_of(second.id) is None

    with mysql_connect(principal) as conn, conn.cursor() as cur:  # the first app still logs in
        cur.execute("SELECT count(*) FROM orders")
        assert cur.fetchone()[0] >= 1
    assert runtime.reconciler.reconcile_app(first, Mode.PLAN).plan.empty


def test_the_namesakes_creation_event_through_the_event_grid_handler_is_recorded_as_a_conflict(
    emulator: Any, runtime: Any, pg_connect: Any
) -> None:
    """The automatic path: ARM's event for the namesake reaches the deployed Event Grid function, which
    records the permanent refusal (no retry) and changes nothing."""
    name = f"evt-{uuid.uuid4().hex[:8]}"
    first = provisioned(emulator, runtime, APPS_GROUP, name, "orders:reader")
    principal = principal_name(first, Engine.POSTGRES)
    first_identity, _ = emulator.identity_of(first.id)
    second = emulator.create_site(SUBSCRIPTION, TEAM_B_GROUP, name, tags={"passwordless": "orders:writer"})
    (created,) = events_for(emulator, second)
    emulator.clear_requests()

    shared_runtime.cache_clear()
    user_function("eventgrid_reconcile_site")(as_function_event(created))  # returns: permanent, not retried
    shared_runtime.cache_clear()

    assert arm_writes(emulator) == [] and emulator.identity_of(second) is None
    (run,) = runtime.runs.list_runs(parse_app_id(second))
    assert run["outcome"] == "failed" and first.id in run["error"] and "not rebound" in run["error"]
    assert role_binding(pg_connect, principal) == first_identity
    assert reads_orders(pg_connect, principal) >= 1
