"""The pipeline HTTP API through the indexed functions: plan, apply, and every error as problem+json."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import azure.functions as func
import pytest

from provisioning.resource_ids import parse_app_id
from provisioning.runtime import shared_runtime
from tests.estates import APPS_GROUP, SUBSCRIPTION
from tests.functions_index import user_function

pytestmark = pytest.mark.integration
APPLY_ROLE = base64.b64encode(
    json.dumps(
        {
            "auth_typ": "aad",
            "claims": [{"typ": "roles", "val": "Passwordless.Apply"}],
        }
    ).encode()
).decode()


@pytest.fixture
def call(product_environment: dict[str, str]) -> Any:
    shared_runtime.cache_clear()

    def invoke(route: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = func.HttpRequest(method="POST", url=f"/api/connections/{route}", body=raw, headers=headers or {})
        response = user_function(f"http_{route}")(request)
        return response.status_code, json.loads(response.get_body()), response.mimetype

    yield invoke
    shared_runtime.cache_clear()


def new_site(emulator: Any, group: str = APPS_GROUP) -> str:
    return str(emulator.create_site(SUBSCRIPTION, group, f"api-{uuid.uuid4().hex[:8]}", app_settings={"KEEP": "1"}))


def test_plan_returns_the_exact_sql_and_changes_nothing(emulator: Any, call: Any) -> None:
    site_id = new_site(emulator)
    status, body, mimetype = call("plan", {"app": site_id, "connections": "orders:reader"})
    assert (status, mimetype) == (200, "application/json")
    steps = {s["step"]: s for s in body["plan"]["steps"]}
    assert list(steps) == ["EnableSystemIdentity", "CreatePrincipal", "GrantPrivileges", "SetAppSettings"]
    assert any(statement.startswith("GRANT CONNECT ON DATABASE") for statement in steps["GrantPrivileges"]["sql"])
    assert emulator.identity_of(site_id) is None


def test_apply_needs_the_app_role_and_then_converges(emulator: Any, call: Any) -> None:
    site_id = new_site(emulator)
    body = {"app": site_id, "connections": ["orders:writer"], "client": "django"}
    status, problem, mimetype = call("apply", body)
    assert (status, mimetype) == (403, "application/problem+json") and "Passwordless.Apply" in problem["detail"]
    assert emulator.identity_of(site_id) is None
    status, result, _ = call("apply", body, {"X-MS-CLIENT-PRINCIPAL": APPLY_ROLE})
    assert status == 200 and result["outcome"] == "converged"
    assert emulator.app_settings(site_id)["AZURE_POSTGRESQL_NAME"].startswith("orders_")
    status, again, _ = call("plan", body)
    assert status == 200 and again["plan"]["steps"] == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, "body"),
        ({"app": "nonsense", "connections": "orders:reader"}, 422, "app"),
        ({"app": "SITE", "connections": "orders"}, 422, "connections"),
        ({"app": "SITE", "connections": "orders:reader", "client": "cobol"}, 422, "client"),
        ({"app": "SITE", "connections": "orders:owner"}, 403, None),
        ({"app": "SITE", "connections": "billing:reader"}, 403, None),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(
    emulator: Any, call: Any, body: Any, status: int, field: str | None
) -> None:
    site_id = new_site(emulator)
    if isinstance(body, dict) and body["app"] == "SITE":
        body = {**body, "app": site_id}
    got, problem, mimetype = call("plan", body)
    assert (got, mimetype) == (status, "application/problem+json")
    assert problem["status"] == status and problem["detail"]
    assert problem.get("field") == field


def test_unknown_app_is_404_and_foreign_source_is_403(emulator: Any, call: Any) -> None:
    group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}"
    missing = f"{group}/providers/Microsoft.Web/sites/nope-{uuid.uuid4().hex[:6]}"
    assert call("plan", {"app": missing, "connections": "orders:reader"})[0] == 404
    rogue = new_site(emulator, "rg-elsewhere")
    status, problem, _ = call("plan", {"app": rogue, "connections": "orders:reader"})
    assert status == 403 and "allowed sources" in problem["detail"]


def test_status_shows_drift_and_run_records(emulator: Any, call: Any) -> None:
    site_id = new_site(emulator)
    body = {"app": site_id, "connections": ["orders:reader"]}
    assert call("apply", body, {"X-MS-CLIENT-PRINCIPAL": APPLY_ROLE, "x-correlation-id": "pipeline-42"})[0] == 200
    shared_runtime.cache_clear()
    request = func.HttpRequest(method="GET", url="/api/connections", body=b"", params={"app": site_id})
    response = user_function("http_connection_status")(request)
    status = json.loads(response.get_body())
    assert response.status_code == 200
    # No tag: the pipeline's request, kept on the app, is its desired state from now on.
    assert (status["managed"], status["in_sync"], status["drift"]) == (True, True, [])
    (run,) = status["runs"]
    assert (run["trigger"], run["correlation_id"], run["outcome"]) == ("http", "pipeline-42", "converged")
    assert run["plan"]["steps"][0]["step"] == "EnableSystemIdentity"
    assert json.loads(emulator.app_settings(site_id)["PASSWORDLESS_REQUEST"])["connections"] == "orders:reader"


def test_pipeline_request_survives_later_events_and_is_restored(emulator: Any, call: Any) -> None:
    site_id = new_site(emulator)
    call("apply", {"app": site_id, "connections": "orders:reader"}, {"X-MS-CLIENT-PRINCIPAL": APPLY_ROLE})
    emulator.set_app_setting(site_id, "AZURE_POSTGRESQL_CONNECTIONSTRING", None)
    result = shared_runtime().reconciler.reconcile_app(parse_app_id(site_id))  # what an event would run
    assert [s.__class__.__name__ for s in result.plan.steps] == ["SetAppSettings"]
    assert "AZURE_POSTGRESQL_CONNECTIONSTRING" in emulator.app_settings(site_id)


def test_outcome_event_reaches_the_topic(emulator: Any, call: Any) -> None:
    site_id = new_site(emulator)
    call("apply", {"app": site_id, "connections": "orders:reader"}, {"X-MS-CLIENT-PRINCIPAL": APPLY_ROLE})
    mine = [e for e in emulator.published_events if e["subject"] == site_id]
    assert [e["eventType"] for e in mine] == ["Passwordless.ConnectionProvisioned"]
    assert mine[0]["topic"] == "outcomes" and "CreatePrincipal" in mine[0]["data"]["steps"]


def test_failed_apply_is_recorded_and_announced(emulator: Any, call: Any) -> None:
    site_id = new_site(emulator, "rg-elsewhere")
    status, _, _ = call(
        "apply", {"app": site_id, "connections": "orders:reader"}, {"X-MS-CLIENT-PRINCIPAL": APPLY_ROLE}
    )
    assert status == 403
    mine = [e for e in emulator.published_events if e["subject"] == site_id]
    assert [e["eventType"] for e in mine] == ["Passwordless.ProvisioningFailed"]
    assert mine[0]["data"]["error"] == "PolicyViolation"


def test_audit_is_queued_then_run_by_the_workers_and_served_by_accept(
    emulator: Any, call: Any, product_environment: dict[str, str]
) -> None:
    from azure.storage.blob import BlobServiceClient

    class Box(func.Out[Any]):
        def __init__(self) -> None:
            self.value: Any = None

        def set(self, val: Any) -> None:
            self.value = val

        def get(self) -> Any:
            return self.value

    queue = Box()
    refused = user_function("http_start_audit")(func.HttpRequest(method="POST", url="/api/audit", body=b""), queue)
    assert refused.status_code == 403 and queue.value is None
    request = func.HttpRequest(method="POST", url="/api/audit", body=b"", headers={"X-MS-CLIENT-PRINCIPAL": APPLY_ROLE})
    accepted = user_function("http_start_audit")(request, queue)
    assert accepted.status_code == 202
    parts = Box()
    user_function("queue_start_audit")(func.QueueMessage(id="m1", body=queue.get().encode()), parts)
    for index, text in enumerate(parts.get()):
        user_function("queue_audit_part")(func.QueueMessage(id=f"p{index}", body=text.encode()))
    service = BlobServiceClient.from_connection_string(product_environment["AzureWebJobsStorage"])
    contents = {
        f"report_{kind}": service.get_blob_client("passwordless-reports", f"latest.{kind}")
        .download_blob()
        .readall()
        .decode()
        for kind in ("json", "md", "html")
    }
    latest = user_function("http_latest_audit")
    for accept, mimetype in (
        ("text/html", "text/html"),
        ("text/markdown", "text/markdown"),
        ("*/*", "application/json"),
    ):
        got = latest(
            func.HttpRequest(method="GET", url="/api/audit/latest", body=b"", headers={"Accept": accept}), **contents
        )
        assert (got.status_code, got.mimetype) == (200, mimetype)
    nothing = latest(func.HttpRequest(method="GET", url="/api/audit/latest", body=b""), None, None, None)
    assert nothing.status_code == 404 and nothing.mimetype == "application/problem+json"
    assert json.loads(contents["report_json"])["summary"]["apps"] >= 1
