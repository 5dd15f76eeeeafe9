"""ARM requests and database work of a first provisioning (system identity, one PostgreSQL
connection) and of a reconcile with nothing to do. ARM requests are counted by the emulator's
request log, database statements by PostgreSQL's own statement log."""

from __future__ import annotations

import uuid
from typing import Any

from bench.harness import SUBSCRIPTION, arm_calls, is_write, world
from emulator.statement_counts import postgres_statements
from provisioning.config import Config
from provisioning.resource_ids import parse_app_id
from provisioning.runtime import build_runtime


def measure() -> dict[str, Any]:
    with world() as w:
        runtime = build_runtime(Config.from_environment())
        app = parse_app_id(w.emulator.create_site(SUBSCRIPTION, "rg-apps", f"cost-{uuid.uuid4().hex[:6]}",
                                                  tags={"passwordless": "db00:writer"}))
        w.emulator.clear_requests()
        first = runtime.reconciler.reconcile_app(app)
        first_calls = arm_calls(w.emulator)
        w.emulator.clear_requests()
        cold = build_runtime(Config.from_environment())  # a new worker: no cached server facts
        noop_cold = cold.reconciler.reconcile_app(app)
        noop_cold_calls = arm_calls(w.emulator)
        w.emulator.clear_requests()
        with postgres_statements(w.estate["function_identity"]["name"]) as counted:
            noop = runtime.reconciler.reconcile_app(app)
        noop_calls = arm_calls(w.emulator)
    assert first is not None and first.applied and noop is not None and noop_cold is not None
    return {
        "arm_requests_first": len(first_calls),
        "arm_writes_first": sum(1 for r in first_calls if is_write(r)),
        "arm_reads_noop": len(noop_calls),
        "arm_writes_noop": sum(1 for r in noop_calls if is_write(r)),
        "arm_reads_noop_new_worker": len(noop_cold_calls),
        "db_writes_noop": counted.total_writes(),
        "db_catalog_queries_noop": max(counts["read"] for counts in counted.by_database.values()),
    }


if __name__ == "__main__":
    print(measure())
