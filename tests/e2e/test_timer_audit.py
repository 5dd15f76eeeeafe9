"""The timer function as the host would run it: discovery, read-only audit, three report blobs."""

from __future__ import annotations

import json
import uuid
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from provisioning.runtime import shared_runtime
from tests.estates import APPS_GROUP, SUBSCRIPTION
from tests.functions_index import user_function

pytestmark = pytest.mark.integration


class Blob(func.Out[str]):
    """What the host's blob output binding receives."""

    def __init__(self) -> None:
        self.value: str | None = None

    def set(self, val: str) -> None:
        self.value = val

    def get(self) -> str:
        assert self.value is not None
        return self.value


def test_timer_audit_reports_every_tagged_app_without_writing(emulator: Any, product_environment: Any) -> None:
    shared_runtime.cache_clear()
    tagged = emulator.create_site(
        SUBSCRIPTION, APPS_GROUP, f"timer-{uuid.uuid4().hex[:8]}", tags={"passwordless": "orders:reader"}
    )
    broken = emulator.create_site(
        SUBSCRIPTION, APPS_GROUP, f"broken-{uuid.uuid4().hex[:8]}", tags={"passwordless": "orders"}
    )
    untagged = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"plain-{uuid.uuid4().hex[:8]}")
    blobs = {name: Blob() for name in ("report_json", "report_md", "report_html")}
    emulator.clear_requests()

    user_function("timer_audit")(TimerRequest(past_due=False), **blobs)
    shared_runtime.cache_clear()

    writes = [r for r in emulator.requests if r.method in ("PUT", "PATCH", "DELETE")]
    assert writes == []
    report = json.loads(blobs["report_json"].get())
    by_app = {entry["app"].lower(): entry for entry in report["apps"]}
    assert untagged.lower() not in by_app
    assert {d["kind"] for d in by_app[tagged.lower()]["drift"]} >= {"identity-disabled", "principal-missing"}
    assert [d["kind"] for d in by_app[broken.lower()]["drift"]] == ["request-invalid"]
    assert "entry 1 'orders'" in by_app[broken.lower()]["drift"][0]["detail"]
    assert "Passwordless connections audit" in blobs["report_md"].get()
    assert blobs["report_html"].get().startswith("<!doctype html>")
