"""``make bench``: every benchmark in one run, figures into bench/results.json and a table that
marks each target of PRODUCT.md section 7 as met or not."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")
# key -> (comparison, target, what it means)
TARGETS: dict[str, tuple[str, float, str]] = {
    "cold_start_ratio": ("<=", 0.25, "lazy import / eager import"),
    "arm_requests_first": ("<=", 8, "ARM requests, first provisioning"),
    "arm_reads_noop": ("<=", 3, "ARM requests, no-op reconcile"),
    "arm_writes_noop": ("<=", 0, "ARM writes, no-op reconcile"),
    "db_writes_noop": ("<=", 0, "database writes, no-op (server-counted)"),
    "db_catalog_queries_noop": ("<=", 2, "catalog queries per db, no-op (server)"),
    "event_to_converged_p95_s": ("<=", 0.6, "event to converged p95 (100 ms ARM)"),
    "estate_apps": (">=", 10000, "estate: apps audited"),
    "estate_subscriptions": (">=", 10, "estate: subscriptions"),
    "estate_failures": ("<=", 0, "estate: audit failures"),
    "estate_wall_over_floor": ("<=", 1.15, "estate: wall / largest sub's floor"),
    "estate_throttled_ratio": ("<=", 0.02, "estate: 429s / ARM requests"),
    "estate_catalog_queries_per_db_max": ("<=", 2, "estate: catalog queries per db (server)"),
    "estate_worker_peak_rss_mb": ("<", 200, "estate: peak RSS per worker (MB)"),
    "big_db_snapshot_queries": ("<=", 2, "2,000 principals: snapshot queries"),
}
# Printed beside the targets, without one of their own.
CONTEXT = ("event_floor_s", "estate_wall_s", "estate_floor_s", "estate_floor_sum_s", "big_db_snapshot_s")


def benchmarks() -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    from bench import big_database, cold_start, estate_audit, event_latency, provisioning_cost

    return [("cold start", cold_start.measure), ("provisioning cost", provisioning_cost.measure),
            ("event latency", event_latency.measure), ("2,000 principals", big_database.measure),
            ("estate audit", estate_audit.measure)]


def met(value: float, comparison: str, target: float) -> bool:
    if comparison == ">=":
        return value >= target
    return value <= target if comparison == "<=" else value < target


def main(only: list[str]) -> int:
    """Every benchmark, or only those named (e.g. ``estate``): the others' figures stay as they were
    measured, and ``measured_at`` says when each benchmark last ran."""
    previous = json.loads(RESULTS.read_text(encoding="utf-8")) if only and RESULTS.exists() else {}
    results: dict[str, Any] = previous | {"python": platform.python_version(), "machine": platform.machine()}
    measured_at = results["measured_at"] if isinstance(results.get("measured_at"), dict) else {}
    for name, measure in benchmarks():
        if only and not any(word in name for word in only):
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results.update(measure())
        measured_at[name] = datetime.now(UTC).isoformat(timespec="seconds")
    results["measured_at"] = measured_at
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    failed = 0
    print(f"\n{'figure':<42} {'measured':>10}  {'target':>10}  met")
    for key, (comparison, target, label) in TARGETS.items():
        value = results.get(key)
        ok = value is not None and met(float(value), comparison, target)
        failed += not ok
        print(f"{label:<42} {value!s:>10}  {comparison + ' ' + str(target):>10}  {'yes' if ok else 'NO'}")
    for key in CONTEXT:
        print(f"{key:<42} {results.get(key)!s:>10}")
    print(f"\nwritten to {RESULTS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
