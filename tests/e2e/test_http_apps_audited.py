"""An app a pipeline provisioned over HTTP, never tagged, through the audit as the host runs it (timer
handler, queue handler): the request index puts it beside Resource Graph's tagged apps, so it is
audited, clean, and its principal is its own, not an orphan; drift injected by hand is found; and once
the app is deleted it leaves the index without an error."""

from __future__ import annotations

import json
import uuid
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from provisioning.audit import DriftKind, audit
from provisioning.azure.credentials import default_credential
from provisioning.azure.request_index import RequestIndex
from provisioning.config import Config
from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.reconciler import Mode
from provisioning.requests import REQUEST_SETTING
from provisioning.resource_ids import AppRef, parse_app_id
from provisioning.runtime import shared_runtime
from tests.e2e.test_timer_audit import report, run_audit_through_queues
from tests.estates import APPS_GROUP, SUBSCRIPTION
from tests.functions_index import user_function
from tests.integration.test_http_api import APPLY_ROLE

pytestmark = pytest.mark.integration


def apply_over_http(body: dict[str, Any]) -> dict[str, Any]:
    request = func.HttpRequest(
        method="POST",
        url="/api/connections/apply",
        body=json.dumps(body).encode(),
        headers={"X-MS-CLIENT-PRINCIPAL": APPLY_ROLE},
    )
    response = user_function("http_apply")(request)
    assert response.status_code == 200, response.get_body()
    return dict(json.loads(response.get_body()))


def status_over_http(app: AppRef) -> dict[str, Any]:
    request = func.HttpRequest(method="GET", url="/api/connections", body=b"", params={"app": app.id})
    return dict(json.loads(user_function("http_connection_status")(request).get_body()))


def audited(connection: str) -> dict[str, Any]:
    """An audit through the timer's handler and the queue's handler; the report the last part wrote."""
    shared_runtime.cache_clear()
    run_audit_through_queues(user_function("timer_audit"), TimerRequest(past_due=False))
    return dict(json.loads(report("latest.json", connection)))


def indexed(app: AppRef) -> bool:
    """Whether the request index (in the function's storage, here Azurite) names the app."""
    index = RequestIndex(default_credential(), Config.from_environment())
    return any(entry.app.key == app.key for entry in index.list_indexed())


def orphans_of(document: dict[str, Any], name: str, *, quoted: bool = True) -> list[dict[str, Any]]:
    """Orphan findings naming a principal (quoted, as database principals are) or an identity's id."""
    return [o for o in document["orphans"] if (repr(name) if quoted else name) in o["detail"]]


@pytest.fixture
def connection(product_environment: dict[str, str]) -> Any:
    shared_runtime.cache_clear()
    yield product_environment["AzureWebJobsStorage"]
    shared_runtime.cache_clear()


def test_an_app_applied_over_http_only_is_audited_its_drift_found_and_its_deletion_handled(
    emulator: Any, connection: str, pg_connect: Any
) -> None:
    app = parse_app_id(emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"piped-{uuid.uuid4().hex[:8]}"))
    role = principal_name(app, Engine.POSTGRES)
    applied = apply_over_http({"app": app.id, "connections": ["orders:writer", "invoices:reader"]})
    assert applied["outcome"] == "converged"
    assert REQUEST_SETTING in emulator.app_settings(app.id)  # untagged: the request is kept on the app
    identity = emulator.identity_of(app.id)[0]  # holds the role assignment on the invoices container

    clean = audited(connection)
    by_app = {entry["app"].lower(): entry for entry in clean["apps"]}
    assert (by_app[app.id.lower()]["status"], by_app[app.id.lower()]["drift"]) == ("clean", [])
    assert orphans_of(clean, role) == [] and orphans_of(clean, identity, quoted=False) == []
    assert status_over_http(app)["in_sync"] is True

    emulator.set_app_setting(app.id, "AZURE_POSTGRESQL_CONNECTIONSTRING", None)
    with pg_connect("postgres") as conn, conn.cursor() as cur:
        cur.execute(f'GRANT TRUNCATE ON orders TO "{role}"')  # generated name: no quoting hazards
    drifted = audited(connection)
    (entry,) = [e for e in drifted["apps"] if e["app"].lower() == app.id.lower()]
    kinds = sorted(d["kind"] for d in entry["drift"])
    assert (entry["status"], kinds) == ("drifted", [DriftKind.PRIVILEGE_EXCESS.value, DriftKind.SETTING_MISSING.value])
    assert sorted(d["kind"] for d in status_over_http(app)["drift"]) == kinds  # status says what the audit says
    assert orphans_of(drifted, role) == [] and orphans_of(drifted, identity, quoted=False) == []

    emulator.delete_site(app.id)  # deleted; its delete event is not delivered here
    assert indexed(app)
    after = audited(connection)
    assert [e for e in after["apps"] if e["app"].lower() == app.id.lower()] == []
    assert not indexed(app)
    # What it left is reported as a deleted app's is: its principal (bound to its identity), its role.
    assert [o["kind"] for o in orphans_of(after, role)] == [DriftKind.ORPHAN_PRINCIPAL.value]
    left = sorted(o["kind"] for o in orphans_of(after, identity, quoted=False))
    assert left == [DriftKind.ORPHAN_PRINCIPAL.value, DriftKind.ROLE_STALE.value]


def test_the_index_follows_the_request_a_tag_taking_over_a_withdrawal_and_a_deletion(
    emulator: Any, connection: str
) -> None:
    """Written when an HTTP apply converges; a tag that takes over, a request withdrawn by hand, and a
    removal after a deletion each take the app out (the event path runs ``reconcile_app``/``remove_app``);
    so does an audit that finds an indexed app asking for nothing before any event was handled."""
    reconciler = shared_runtime().reconciler
    apps = [
        parse_app_id(emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"idx-{uuid.uuid4().hex[:8]}")) for _ in range(4)
    ]
    for app in apps:
        apply_over_http({"app": app.id, "connections": "orders:reader"})
        assert indexed(app)
    tagged, withdrawn, deleted, abandoned = apps

    emulator.set_tags(tagged.id, {"passwordless": "orders:reader"})
    assert reconciler.reconcile_app(tagged, Mode.PLAN) is not None and indexed(tagged)  # a plan writes nothing
    reconciler.reconcile_app(tagged)
    assert REQUEST_SETTING not in emulator.app_settings(tagged.id) and not indexed(tagged)
    apply_over_http({"app": tagged.id, "connections": ["orders:reader"]})  # the tag's request: still the tag's
    assert not indexed(tagged)

    emulator.set_app_setting(withdrawn.id, REQUEST_SETTING, None)
    reconciler.reconcile_app(withdrawn)
    assert not indexed(withdrawn)

    emulator.delete_site(deleted.id)
    reconciler.remove_app(deleted)
    assert not indexed(deleted)

    emulator.set_app_setting(abandoned.id, REQUEST_SETTING, None)  # its event not handled yet
    (entry,) = [e for e in shared_runtime().requested.list_requested().indexed if e.app.key == abandoned.key]
    report = audit(reconciler, [], indexed=[entry])  # the single-process audit, as the CLI runs it
    assert (report.apps, indexed(abandoned)) == ((), False)
    role = principal_name(abandoned, Engine.POSTGRES)
    assert [o.kind for o in report.orphans if repr(role) in o.detail] == [DriftKind.ORPHAN_PRINCIPAL]
