"""The drift audit of 1,000 apps on 20 database servers through the throttled emulator.

The estate is provisioned first by the product itself with throttling off (the set-up is not what
is measured); then ARM's token buckets are switched on, fresh, and one read-only audit runs. The
floor is the least time the buckets allow for the requests the audit made: the largest, over
operation types, of max(0, requests - burst) / refill.
"""

from __future__ import annotations

import resource
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.harness import SUBSCRIPTION, world
from emulator.throttling import ARM_LIMITS, BUCKET_OF_METHOD, TokenBuckets
from provisioning.audit import audit
from provisioning.config import Config
from provisioning.resource_ids import parse_app_id
from provisioning.runtime import build_runtime

APPS = 1000
SERVERS = 20
SEED_WORKERS = 8


def measure() -> dict[str, Any]:
    with world(servers=SERVERS, throttle=False) as w:
        seeding = build_runtime(Config.from_environment())
        apps = [
            parse_app_id(w.emulator.create_site(SUBSCRIPTION, "rg-apps", f"scale-{i:04d}-{uuid.uuid4().hex[:4]}",
                                                tags={"passwordless": f"db{i % SERVERS:02d}:reader"}))
            for i in range(APPS)
        ]
        with ThreadPoolExecutor(SEED_WORKERS) as pool:
            list(pool.map(seeding.reconciler.reconcile_app, apps))
        w.emulator.set_throttle(TokenBuckets())
        w.emulator.clear_requests()
        runtime = build_runtime(Config.from_environment())
        started = time.perf_counter()
        report = audit(runtime.reconciler, runtime.discovery.list_tagged_apps())
        wall = time.perf_counter() - started
        accepted = [r for r in w.emulator.requests if r.kind != "token" and r.status != 429]
        throttled = sum(1 for r in w.emulator.requests if r.status == 429)
    by_bucket = {kind: sum(1 for r in accepted if BUCKET_OF_METHOD.get(r.method) == kind) for kind in ARM_LIMITS}
    floor = max(max(0.0, n - ARM_LIMITS[k].burst) / ARM_LIMITS[k].refill_per_s for k, n in by_bucket.items())
    counts = report.counts()
    return {
        "audit_apps": len(report.apps),
        "audit_failures": counts["error"],
        "audit_drifted": counts["drifted"],
        "audit_wall_s": round(wall, 2),
        "audit_floor_s": round(floor, 2),
        "audit_wall_over_floor": round(wall / floor, 3) if floor else None,
        "audit_arm_requests": by_bucket | {"throttled_429": throttled},
        "audit_catalog_queries_per_db_max": max(report.catalog_queries.values()),
        "audit_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    print(measure())
