"""An ARM event delivered to the Event Grid function, through the emulator and PostgreSQL, to a clean
audit; then drift injected by hand and found."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import azure.functions as func
import pytest

from provisioning.audit import DriftKind, audit
from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.report import to_document
from provisioning.resource_ids import parse_app_id
from provisioning.runtime import shared_runtime
from tests.estates import APPS_GROUP, SUBSCRIPTION
from tests.functions_index import user_function

pytestmark = pytest.mark.integration


def as_function_event(event: dict[str, Any]) -> func.EventGridEvent:
    """What the Functions host hands the handler for one delivered Event Grid event."""
    return func.EventGridEvent(
        id=event["id"],
        data=event["data"],
        topic=event["topic"],
        subject=event["subject"],
        event_type=event["eventType"],
        event_time=datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")),
        data_version=event["dataVersion"],
    )


@pytest.fixture
def deliver(product_environment: dict[str, str]) -> Any:
    shared_runtime.cache_clear()
    handler = user_function("eventgrid_reconcile_site")
    yield lambda event: handler(as_function_event(event))
    shared_runtime.cache_clear()


def discovered(runtime: Any, app: Any) -> list[Any]:
    """The app as the audit's Resource Graph discovery finds it."""
    return [site for site in runtime.discovery.list_tagged_apps() if site.app.key == app.key]


def arm_requests(emulator: Any) -> list[Any]:
    """Requests to ARM itself: not token requests, not outcome events published to the topic."""
    return [r for r in emulator.requests if r.kind != "token" and not r.path.startswith("/topics/")]


def assert_read_the_site_and_nothing_else(emulator: Any, site_id: str) -> None:
    """The site and its settings read once each, in either order (they are sent side by side), and
    no other request: no write of any kind."""
    sent = Counter(f"{r.method} {r.path.lower()}" for r in arm_requests(emulator))
    assert sent == Counter({f"GET {site_id.lower()}": 1, f"POST {site_id.lower()}/config/appsettings/list": 1})


def events_for(emulator: Any, resource_id: str) -> list[dict[str, Any]]:
    return [e for e in emulator.events if e["subject"].lower().startswith(resource_id.lower())]


def test_event_in_converged_out_then_drift_found(emulator: Any, deliver: Any, pg_connect: Any) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    site_id = emulator.create_site(
        SUBSCRIPTION, APPS_GROUP, name, tags={"passwordless": "orders:writer"}, app_settings={"EXISTING": "keep-me"}
    )
    (created,) = events_for(emulator, site_id)
    assert created["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
    emulator.clear_requests()

    deliver(created)  # at-least-once delivery: the same event three times
    first_delivery = arm_requests(emulator)
    deliver(created)
    deliver(created)
    assert arm_requests(emulator) == first_delivery, "a redelivered event must not reconcile again"

    app = parse_app_id(site_id)
    settings_writes = [r for r in emulator.requests if r.method == "PUT" and r.path.lower().endswith("/appsettings")]
    identity_writes = [r for r in emulator.requests if r.method == "PATCH"]
    assert len(settings_writes) == 1 and len(identity_writes) == 1
    principal = principal_name(app, Engine.POSTGRES)
    with pg_connect("postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (principal,))
        assert cur.fetchone() == (1,)
    assert emulator.app_settings(site_id)["EXISTING"] == "keep-me"

    # The product's own writes raised events too; delivering them must not loop.
    own = [e for e in events_for(emulator, site_id) if e["id"] != created["id"]]
    assert own, "the emulator should have emitted events for the product's writes"
    emulator.clear_requests()
    for event in own:
        deliver(event)
    assert arm_requests(emulator) == []

    runtime = shared_runtime()
    clean = audit(runtime.reconciler, discovered(runtime, app))
    assert clean.counts()["clean"] == 1

    emulator.set_app_setting(site_id, "AZURE_POSTGRESQL_CONNECTIONSTRING", None)
    with pg_connect("postgres") as conn, conn.cursor() as cur:
        cur.execute(f'GRANT TRUNCATE ON orders TO "{principal}"')  # generated name: no quoting hazards
    drifted = to_document(audit(runtime.reconciler, discovered(runtime, app)))
    (entry,) = drifted["apps"]
    kinds = sorted(d["kind"] for d in entry["drift"])
    assert kinds == sorted([DriftKind.PRIVILEGE_EXCESS.value, DriftKind.SETTING_MISSING.value])
    assert json.dumps(drifted)  # the JSON report serializes


def test_untagged_and_foreign_events_change_nothing(emulator: Any, deliver: Any) -> None:
    site_id = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"plain-{uuid.uuid4().hex[:8]}")
    (created,) = events_for(emulator, site_id)
    emulator.clear_requests()
    deliver(created)
    assert_read_the_site_and_nothing_else(emulator, site_id)

    foreign = json.loads(json.dumps(created))
    foreign["data"]["subscriptionId"] = "ffffffff-ffff-ffff-ffff-ffffffffffff"
    emulator.clear_requests()
    deliver(foreign)
    assert arm_requests(emulator) == []


def test_request_outside_allowed_sources_changes_nothing(emulator: Any, deliver: Any) -> None:
    site_id = emulator.create_site(
        SUBSCRIPTION, "rg-elsewhere", f"rogue-{uuid.uuid4().hex[:8]}", tags={"passwordless": "orders:writer"}
    )
    (created,) = events_for(emulator, site_id)
    emulator.clear_requests()
    deliver(created)  # a permanent refusal: recorded, not retried
    assert_read_the_site_and_nothing_else(emulator, site_id)
    found = audit(shared_runtime().reconciler, discovered(shared_runtime(), parse_app_id(site_id)))
    assert [d.kind for d in found.apps[0].drift] == [DriftKind.POLICY_DENIED]


def test_delete_event_removes_the_principal_of_a_revoke_target(emulator: Any, deliver: Any, pg_connect: Any) -> None:
    site_id = emulator.create_site(
        SUBSCRIPTION, APPS_GROUP, f"temp-{uuid.uuid4().hex[:8]}", tags={"passwordless": "ledger:reader"}
    )
    (created,) = events_for(emulator, site_id)
    deliver(created)
    principal = principal_name(parse_app_id(site_id), Engine.POSTGRES)
    emulator.delete_site(site_id)
    deleted = next(e for e in events_for(emulator, site_id) if e["eventType"].endswith("ResourceDeleteSuccess"))
    deliver(deleted)
    deliver(deleted)  # redelivery is harmless
    with pg_connect("postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (principal,))
        assert cur.fetchone() == (0,)


def test_event_in_outcome_event_out_run_record_readable(emulator: Any, deliver: Any) -> None:
    site_id = emulator.create_site(
        SUBSCRIPTION, APPS_GROUP, f"told-{uuid.uuid4().hex[:8]}", tags={"passwordless": "orders:reader"}
    )
    (created,) = events_for(emulator, site_id)
    deliver(created)
    (announced,) = [e for e in emulator.published_events if e["subject"] == site_id]
    assert announced["eventType"] == "Passwordless.ConnectionProvisioned"
    assert announced["data"]["correlationId"] == created["id"]
    (run,) = shared_runtime().runs.list_runs(parse_app_id(site_id))
    assert (run["trigger"], run["correlation_id"], run["outcome"]) == ("eventgrid", created["id"], "converged")
