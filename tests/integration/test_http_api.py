"""The pipeline HTTP API through the indexed functions: plan, apply, and every error as problem+json."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import azure.functions as func
import pytest

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
