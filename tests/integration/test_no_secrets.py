"""No token, no Authorization value and nothing password-like in any log line or response, across a
provision, a status read, an event, an audit and the error paths."""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

import azure.functions as func
import pytest

from provisioning.runtime import shared_runtime
from tests.estates import APPS_GROUP, SUBSCRIPTION
from tests.functions_index import user_function

pytestmark = pytest.mark.integration
SECRET_SHAPES = [
    re.compile(r"eyJ[A-Za-z0-9_-]{10,}"),  # a JWT (every Entra token, as the emulator's are)
    re.compile(r"Bearer\s+\S", re.IGNORECASE),
    # MySQL's and MariaDB's "Access denied ... (using password: NO)" says whether one was sent, not what.
    re.compile(r"password\s*[=:]\s*(?!(?:YES|NO)\))\S", re.IGNORECASE),
    re.compile(r"access_token\"?\s*[:=]\s*\"?[A-Za-z0-9]", re.IGNORECASE),  # MSAL logs it masked as "********"
]


def caller_header() -> str:
    import base64

    claims = {"claims": [{"typ": "roles", "val": "Passwordless.Apply"}]}
    return base64.b64encode(json.dumps(claims).encode()).decode()


class Parts(func.Out[list[str]]):
    def __init__(self) -> None:
        self.value: list[str] = []

    def set(self, val: list[str]) -> None:
        self.value = val

    def get(self) -> list[str]:
        return self.value


class Box(func.Out[str]):
    def __init__(self) -> None:
        self.value = ""

    def set(self, val: str) -> None:
        self.value = val

    def get(self) -> str:
        return self.value


def test_nothing_secret_is_logged_or_returned(
    emulator: Any, product_environment: dict[str, str], local_mysql: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The audit reads every engine's databases, MySQL's too (its server is prepared here, whatever
    ran before)."""
    shared_runtime.cache_clear()
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    header = {"X-MS-CLIENT-PRINCIPAL": caller_header()}

    def http(name: str, method: str, body: Any = None, params: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode() if body is not None else b""
        request = func.HttpRequest(method=method, url=f"/api/{name}", body=raw, headers=header, params=params or {})
        outputs.append(user_function(name)(request).get_body().decode())

    site_id = emulator.create_site(
        SUBSCRIPTION, APPS_GROUP, f"quiet-{uuid.uuid4().hex[:8]}", tags={"passwordless": "orders:writer"}
    )
    http("http_apply", "POST", {"app": site_id, "connections": "orders:writer"})
    http("http_plan", "POST", {"app": site_id, "connections": "orders:nope"})
    http("http_plan", "POST", {"app": "not an id", "connections": "orders:reader"})
    http("http_connection_status", "GET", params={"app": site_id})
    rogue = emulator.create_site(
        SUBSCRIPTION, "rg-elsewhere", f"rogue-{uuid.uuid4().hex[:8]}", tags={"passwordless": "orders:reader"}
    )
    http("http_apply", "POST", {"app": rogue, "connections": "orders:reader"})
    event = next(e for e in emulator.events if e["subject"] == site_id)
    user_function("eventgrid_reconcile_site")(
        func.EventGridEvent(
            id=event["id"],
            data=event["data"],
            topic=event["topic"],
            subject=event["subject"],
            event_type=event["eventType"],
            event_time=None,
            data_version=event["dataVersion"],
        )
    )
    parts = Parts()
    user_function("queue_start_audit")(func.QueueMessage(id="m", body=b"{}"), parts)
    for index, text in enumerate(parts.value):
        user_function("queue_audit_part")(func.QueueMessage(id=f"p{index}", body=text.encode()))
    outputs += parts.value
    shared_runtime.cache_clear()

    assert any("pgaadauth_create_principal_with_oid" in text for text in outputs)  # the run really happened
    assert len(caplog.records) > 10
    lines = [record.getMessage() for record in caplog.records] + outputs
    leaks = [(shape.pattern, line[:200]) for line in lines for shape in SECRET_SHAPES if shape.search(line)]
    assert leaks == []
    assert {getattr(r, "correlation_id", None) for r in caplog.records if r.name.startswith("triggers")} - {"-"}


def test_the_leak_check_would_catch_a_token() -> None:
    sample = "connected with eyJhbGciOiJIUzI1NiJ9.eyJvaWQiOiJ4In0.sig and Authorization: Bearer abc"
    assert sum(1 for shape in SECRET_SHAPES if shape.search(sample)) == 2
    assert any(shape.search("dsn host=db password=NOPE1") for shape in SECRET_SHAPES)
    assert not any(shape.search("Access denied for user 'a'@'h' (using password: NO)") for shape in SECRET_SHAPES)
    assert any(shape.search('{"access_token": "abc"}') for shape in SECRET_SHAPES)
    assert not any(shape.search('{"access_token": "********"}') for shape in SECRET_SHAPES)
