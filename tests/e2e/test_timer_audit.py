"""The audit as the host runs it: the timer discovers and queues parts, workers audit the parts, the
last one writes the three report blobs. Read-only throughout."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobServiceClient

from provisioning.audit_fanout import AuditRuns, Part, PartOrder, part_input_from_json, part_input_to_json
from provisioning.azure.storage import REPORTS
from provisioning.config import Config
from provisioning.reconciler import Mode
from provisioning.resource_ids import parse_app_id
from provisioning.runtime import build_runtime, shared_runtime
from tests.estates import APPS_GROUP, SUBSCRIPTION
from tests.functions_index import user_function

pytestmark = pytest.mark.integration


class Messages(func.Out[list[str]]):
    """What the host's queue output binding receives: one message per item."""

    def __init__(self) -> None:
        self.value: list[str] = []

    def set(self, val: list[str]) -> None:
        self.value = val

    def get(self) -> list[str]:
        return self.value


def report(name: str, connection: str) -> str:
    blob = BlobServiceClient.from_connection_string(connection).get_blob_client(REPORTS, name)
    return blob.download_blob().readall().decode()


def run_audit_through_queues(start: Any, *args: Any) -> list[str]:
    parts = Messages()
    start(*args, parts)
    for index, text in enumerate(parts.get()):
        user_function("queue_audit_part")(func.QueueMessage(id=f"part-{index}", body=text.encode()))
    return parts.get()


def test_timer_audit_reports_every_tagged_app_without_writing(
    emulator: Any, product_environment: dict[str, str]
) -> None:
    shared_runtime.cache_clear()
    tagged = emulator.create_site(
        SUBSCRIPTION, APPS_GROUP, f"timer-{uuid.uuid4().hex[:8]}", tags={"passwordless": "orders:reader"}
    )
    broken = emulator.create_site(
        SUBSCRIPTION, APPS_GROUP, f"broken-{uuid.uuid4().hex[:8]}", tags={"passwordless": "orders"}
    )
    untagged = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"plain-{uuid.uuid4().hex[:8]}")
    emulator.clear_requests()

    parts = run_audit_through_queues(user_function("timer_audit"), TimerRequest(past_due=False))
    shared_runtime.cache_clear()

    assert len(parts) >= 2  # apps of different servers (and invalid requests) go in different parts
    assert [r for r in emulator.requests if r.method in ("PUT", "PATCH", "DELETE")] == []
    connection = product_environment["AzureWebJobsStorage"]
    document = json.loads(report("latest.json", connection))
    by_app = {entry["app"].lower(): entry for entry in document["apps"]}
    assert untagged.lower() not in by_app
    assert by_app[tagged.lower()]["status"] == "pending"  # requested, never provisioned: not drift
    assert [d["kind"] for d in by_app[tagged.lower()]["drift"]] == ["never-provisioned"]
    assert [d["kind"] for d in by_app[broken.lower()]["drift"]] == ["request-invalid"]
    assert "entry 1 'orders'" in by_app[broken.lower()]["drift"][0]["detail"]
    assert "Passwordless connections audit" in report("latest.md", connection)
    assert report("latest.html", connection).startswith("<!doctype html>")
    drift_events = [e for e in emulator.published_events if e["subject"] == tagged]
    assert drift_events and drift_events[-1]["eventType"] == "Passwordless.DriftDetected"


def test_catalog_queries_stay_within_three_per_database(emulator: Any, product_environment: dict[str, str]) -> None:
    shared_runtime.cache_clear()
    for _ in range(5):
        emulator.create_site(
            SUBSCRIPTION, APPS_GROUP, f"many-{uuid.uuid4().hex[:8]}", tags={"passwordless": "orders:reader"}
        )
    run_audit_through_queues(user_function("timer_audit"), TimerRequest(past_due=False))
    document = json.loads(report("latest.json", product_environment["AzureWebJobsStorage"]))
    shared_runtime.cache_clear()
    assert document["catalog_queries"] and max(document["catalog_queries"].values()) <= 3


def test_each_running_part_tells_arm_pacing_how_many_parts_of_its_audit_are_not_yet_stored(
    emulator: Any, product_environment: dict[str, str]
) -> None:
    """The count read from the store bounds how many instances share the subscriptions' ARM buckets."""
    for tag in ("orders:reader", "orders"):  # a refused request goes in a part of its own
        emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"news-{uuid.uuid4().hex[:8]}", tags={"passwordless": tag})
    runtime = build_runtime(Config.from_environment())
    news: list[int] = []

    class Share:
        def share_at_most(self, callers: int) -> None:
            news.append(callers)

    audits = AuditRuns(runtime.reconciler, runtime.requested, runtime.audit_store, runtime.outcomes, Share())
    orders = audits.start(correlation_id=f"news-{uuid.uuid4().hex[:8]}")
    assert len(orders) >= 2
    reports = [audits.run_part(order) for order in orders]

    assert reports[-1] is not None  # the last part stored wrote the report
    assert news[0] == len(orders) and news[-1] == 1  # none stored as the first began; only itself as the last did
    assert news == sorted(news, reverse=True)


@pytest.mark.parametrize(("setting", "remediates"), [("", False), ("true", True)])
def test_the_timer_remediates_only_when_its_setting_says_so(
    emulator: Any, product_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, setting: str, remediates: bool
) -> None:
    """The timer's orders carry the setting; a worker given one (here only this app's part) obeys it."""
    app = parse_app_id(
        emulator.create_site(
            SUBSCRIPTION, APPS_GROUP, f"fix-{uuid.uuid4().hex[:8]}", tags={"passwordless": "orders:reader"}
        )
    )
    monkeypatch.setenv("PASSWORDLESS_AUDIT_REMEDIATE", setting)
    shared_runtime.cache_clear()
    started = Messages()
    user_function("timer_audit")(TimerRequest(past_due=False), started)
    orders = [PartOrder.from_message(text) for text in started.get()]
    assert {order.remediate for order in orders} == {remediates}

    store = shared_runtime().audit_store
    inputs = [part_input_from_json(store.read_input(order.run, order.part)) for order in orders]
    (site,) = [site for part in inputs for site in part.sites if site.app.key == app.key]
    only_this_app = dataclasses.replace(orders[0], run=f"{orders[0].run}-only", part=0, parts=1)
    store.put_input(only_this_app.run, 0, part_input_to_json(Part((), (site,))))
    user_function("queue_audit_part")(func.QueueMessage(id="part-0", body=only_this_app.to_message().encode()))
    document = json.loads(report("latest.json", product_environment["AzureWebJobsStorage"]))
    runtime = shared_runtime()
    shared_runtime.cache_clear()

    (entry,) = document["apps"]
    assert (document["remediate"], entry["status"]) == (remediates, "remediated" if remediates else "pending")
    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty is remediates
    runs = [(r["trigger"], r["outcome"], r["correlation_id"]) for r in runtime.runs.list_runs(app, limit=5)]
    assert runs == ([("timer", "converged", only_this_app.correlation_id)] if remediates else [])  # every reconcile
