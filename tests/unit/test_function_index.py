"""What the Functions host reads: the indexed functions and their bindings, and a cold import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.functions_index import indexed

ROOT = Path(__file__).resolve().parents[2]


def index() -> dict[str, dict[str, object]]:
    return {name: json.loads(f.get_function_json()) for name, f in indexed().items()}


def bindings(function: dict[str, object]) -> dict[str, dict[str, object]]:
    return {str(b["name"]): b for b in function["bindings"]}  # type: ignore[attr-defined, index]


def test_every_function_is_indexed_with_its_bindings() -> None:
    functions = index()
    assert set(functions) == {
        "eventgrid_reconcile_site",
        "http_plan",
        "http_apply",
        "http_connection_status",
        "http_start_audit",
        "http_latest_audit",
        "http_openapi",
        "timer_audit",
        "queue_start_audit",
        "queue_audit_part",
    }
    assert bindings(functions["eventgrid_reconcile_site"])["event"]["type"] == "eventGridTrigger"
    routes = {
        "http_plan": ("connections/plan", ["POST"]),
        "http_apply": ("connections/apply", ["POST"]),
        "http_connection_status": ("connections", ["GET"]),
        "http_start_audit": ("audit", ["POST"]),
        "http_latest_audit": ("audit/latest", ["GET"]),
        "http_openapi": ("openapi.json", ["GET"]),
    }
    for name, (route, methods) in routes.items():
        trigger = bindings(functions[name])["req"]
        assert (trigger["type"], trigger["route"], trigger["authLevel"], trigger["methods"]) == (
            "httpTrigger",
            route,
            "FUNCTION",
            methods,
        )
    assert bindings(functions["http_start_audit"])["queue"]["queueName"] == "passwordless-audit"
    latest = bindings(functions["http_latest_audit"])
    assert {latest[n]["direction"] for n in ("report_json", "report_md", "report_html")} == {"IN"}
    timer = bindings(functions["timer_audit"])
    assert timer["timer"]["type"] == "timerTrigger"
    assert timer["timer"]["schedule"] == "%PASSWORDLESS_AUDIT_SCHEDULE%"
    assert timer["timer"]["runOnStartup"] is False
    assert (timer["parts"]["type"], timer["parts"]["queueName"]) == ("queue", "passwordless-audit-parts")
    start = bindings(functions["queue_start_audit"])
    assert (start["message"]["type"], start["message"]["queueName"]) == ("queueTrigger", "passwordless-audit")
    assert start["parts"]["queueName"] == "passwordless-audit-parts"
    part = bindings(functions["queue_audit_part"])["message"]
    assert (part["type"], part["queueName"]) == ("queueTrigger", "passwordless-audit-parts")


def test_host_json_pins_the_extension_bundle() -> None:
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"


def test_host_json_runs_one_audit_part_at_a_time_per_instance_and_polls_every_two_seconds() -> None:
    """At most batchSize + newBatchThreshold messages run at once in an instance (QueuesOptions)."""
    queues = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["extensions"]["queues"]
    assert queues["batchSize"] + queues["newBatchThreshold"] == 1
    assert queues["maxPollingInterval"] == "00:00:02"


def test_cold_import_loads_no_management_sdk_no_driver_and_not_the_core() -> None:
    """Indexing needs the bindings only: the core, Jinja2, the SDKs and drivers load when a function runs."""
    probe = (
        "import sys, function_app; function_app.app.get_functions();print('\\n'.join(sorted(m for m in sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True)
    modules = loaded.stdout.split()
    assert "function_app" in modules and "triggers.eventgrid" in modules
    heavy = [m for m in modules if m.startswith(("azure.mgmt", "azure.identity", "psycopg2", "pymysql", "pyodbc"))]
    assert heavy == []
    deferred = ("jinja2", "provisioning.runtime", "provisioning.reconciler", "provisioning.models")
    assert [m for m in deferred if m in modules] == []
