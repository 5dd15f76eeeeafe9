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
    "db_writes_noop": ("<=", 0, "database writes, no-op reconcile"),
    "db_catalog_queries_noop": ("<=", 2, "catalog queries per database, no-op"),
    "event_to_converged_p95_s": ("<=", 2.0, "event to converged p95 (100 ms ARM latency)"),
    "audit_failures": ("<=", 0, "audit failures, 1,000 apps"),
    "audit_wall_over_floor": ("<=", 1.25, "audit wall time / throttle floor"),
    "audit_catalog_queries_per_db_max": ("<=", 3, "catalog queries per database, audit"),
    "audit_peak_rss_mb": ("<", 300, "audit peak RSS (MB)"),
}


def benchmarks() -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    from bench import audit_scale, cold_start, event_latency, provisioning_cost

    return [("cold start", cold_start.measure), ("provisioning cost", provisioning_cost.measure),
            ("event latency", event_latency.measure), ("audit at scale", audit_scale.measure)]


def met(value: float, comparison: str, target: float) -> bool:
    return value <= target if comparison == "<=" else value < target


def main() -> int:
    results: dict[str, Any] = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                                "python": platform.python_version(), "machine": platform.machine()}
    for name, measure in benchmarks():
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results.update(measure())
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    failed = 0
    print(f"\n{'figure':<36} {'measured':>10}  {'target':>10}  met")
    for key, (comparison, target, label) in TARGETS.items():
        value = results.get(key)
        ok = value is not None and met(float(value), comparison, target)
        failed += not ok
        print(f"{label:<36} {value!s:>10}  {comparison + ' ' + str(target):>10}  {'yes' if ok else 'NO'}")
    print(f"\nwritten to {RESULTS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
