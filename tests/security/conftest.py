"""What every attack test needs: the product's HTTP handlers as deployed, and proof nothing changed.

Each test tries one attack end to end (the indexed Azure Functions handler or the reconciler a trigger
calls, the emulator as ARM, the real PostgreSQL) and then checks both that the attack was refused and
that nothing was written: no ARM write in the emulator's own request log, no role created or moved in
PostgreSQL's own catalog."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import azure.functions as func
import pytest

from provisioning.runtime import shared_runtime
from tests.functions_index import user_function

WRITE_KINDS = ("write", "delete", "action")


def principal_header(*roles: str) -> str:
    claims = [{"typ": "roles", "val": role} for role in roles]
    return base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims}).encode()).decode()


@pytest.fixture
def http(product_environment: dict[str, str]) -> Iterator[Callable[..., tuple[int, dict[str, Any]]]]:
    """Call an HTTP route through the indexed function, as the Functions host would."""
    shared_runtime.cache_clear()

    def invoke(route: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        request = func.HttpRequest(
            method="POST", url=f"/api/connections/{route}", body=json.dumps(body).encode(), headers=headers or {}
        )
        response = user_function(f"http_{route}")(request)
        return response.status_code, json.loads(response.get_body())

    yield invoke
    shared_runtime.cache_clear()


READ_ACTIONS = ("/config/appsettings/list", "/providers/microsoft.resourcegraph/resources")


def arm_writes(emulator: Any) -> list[str]:
    """ARM requests that change state, as the emulator logged them: not the POSTs that only read (the
    settings ``list`` action, a Resource Graph query), not the outcome events the function publishes
    to its own topic (``/topics/...``)."""
    return [
        f"{r.method} {r.path}"
        for r in emulator.requests
        if r.kind in WRITE_KINDS and not r.path.lower().endswith(READ_ACTIONS) and not r.path.startswith("/topics/")
    ]


def role_binding(pg_connect: Any, name: str) -> str | None:
    """The Entra object id a PostgreSQL role is bound to (the shim's record), None when no such role."""
    with pg_connect("postgres", "postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT objectid FROM pgaadauth_list_principals(false) WHERE rolname = %s", (name,))
        row = cur.fetchone()
        return None if row is None else str(row[0])
