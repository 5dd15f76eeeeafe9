"""The audit of a platform team's estate through the deployed path, across subscriptions.

10,000 apps in 10 subscriptions on 40 servers (20 PostgreSQL, 20 MySQL). The estate is provisioned
first by the product itself with ARM throttling off (set-up, not measured). Then ARM's buckets are
switched on, fresh, and the audit runs as it does in Azure: the timer function's handler discovers
the apps and queues the parts in Azurite; four worker processes run the queue function's handler on
them (as Functions instances would); the worker that stores the last part writes the report blobs.

What is counted, and by whom: ARM requests and 429s by the emulator's request log; statements by
the database servers themselves (PostgreSQL's statement log, MariaDB's general log); memory by each
worker process (its own high-water mark). The floor is the least time ARM's buckets allow: per
subscription, the largest over operation types of max(0, requests - burst) / refill; subscriptions
run side by side, so the estate's floor is its largest subscription's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from bench.estate_world import APPS_GROUP, estate_world
from emulator.statement_counts import mariadb_statements, postgres_statements
from emulator.throttling import TENANT, TokenBuckets, scope_of, throttle_floor
from provisioning.azure.storage import REPORTS
from provisioning.config import Config
from provisioning.resource_ids import parse_app_id
from provisioning.runtime import build_runtime, shared_runtime
from triggers.audit_run import PARTS_QUEUE

ROOT = Path(__file__).resolve().parents[1]
APPS = int(os.environ.get("BENCH_ESTATE_APPS", "10000"))
SUBSCRIPTIONS = int(os.environ.get("BENCH_ESTATE_SUBSCRIPTIONS", "10"))
POSTGRES = MYSQL = 20
WORKERS = 4
SEED_THREADS = 8


class Collected:
    """What the host's queue output binding receives."""

    def __init__(self) -> None:
        self.value: list[str] = []

    def set(self, val: list[str]) -> None:
        self.value = val

    def get(self) -> list[str]:
        return self.value


def floors(requests: list[Any], model: TokenBuckets) -> dict[str, float]:
    """Per subscription: the least seconds its buckets allow for the requests it accepted."""
    by_scope: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in requests:
        if r.status != 429:
            by_scope[scope_of(r.path)].append((r.method, r.path))
    return {scope: throttle_floor(accepted, model) for scope, accepted in by_scope.items() if scope != TENANT}


def seed(apps_by_target: dict[str, list[Any]]) -> None:
    """One thread per database at a time (set-up, not measured): applies on one PostgreSQL database
    take turns under its lock, so more threads there would only queue."""
    runtime = build_runtime(Config.from_environment())

    def provision(apps: list[Any]) -> list[Any]:
        return [runtime.reconciler.reconcile_app(app) for app in apps]

    with ThreadPoolExecutor(SEED_THREADS) as pool:
        results = [r for group in pool.map(provision, apps_by_target.values()) for r in group]
    assert all(r is not None and r.applied for r in results), "the estate did not provision"


def start_workers() -> list[subprocess.Popen[bytes]]:
    """The instances, running and idle before the audit starts; returns once each has said it is ready."""
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.estate_worker"],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        for _ in range(WORKERS)
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == b"ready", "a worker did not start"
    return workers


def finish_workers(workers: list[subprocess.Popen[bytes]]) -> list[dict[str, Any]]:
    """Tell the workers every part is queued; each stops once the queue is empty; their figures."""
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"queued\n")
        worker.stdin.close()
    outputs = []
    for worker in workers:
        assert worker.stdout is not None
        out = worker.stdout.read()
        assert worker.wait() == 0, f"worker exited {worker.returncode}"
        outputs.append(json.loads(out.decode().strip().splitlines()[-1]))
    return outputs


def measure() -> dict[str, Any]:
    with estate_world(subscriptions=SUBSCRIPTIONS, postgres=POSTGRES, mysql=MYSQL) as w:
        targets = w.targets()
        apps_by_target: dict[str, list[Any]] = defaultdict(list)
        for i in range(APPS):
            target = targets[(i // SUBSCRIPTIONS) % len(targets)]["name"]
            site = w.emulator.create_site(
                w.subscriptions[i % SUBSCRIPTIONS], APPS_GROUP, f"estate-{i:05d}",
                tags={"passwordless": f"{target}:reader"},
            )
            apps_by_target[target].append(parse_app_id(site))
        apps = [app for group in apps_by_target.values() for app in group]
        print(f"  seeding {len(apps)} apps ...", file=sys.stderr, flush=True)
        started_seed = time.perf_counter()
        seed(apps_by_target)
        print(f"  seeded in {time.perf_counter() - started_seed:.0f} s", file=sys.stderr, flush=True)

        queue = QueueClient.from_connection_string("UseDevelopmentStorage=true", PARTS_QUEUE)
        try:
            queue.create_queue()
        except ResourceExistsError:  # left by an earlier run
            queue.clear_messages()
        model = TokenBuckets()
        w.emulator.set_throttle(model)
        w.emulator.clear_requests()
        shared_runtime.cache_clear()
        from tests.functions_index import user_function

        with ExitStack() as stack:
            pg = stack.enter_context(postgres_statements(w.admin))
            my = stack.enter_context(mariadb_statements(w.admin))
            instances = start_workers()
            started = time.monotonic()  # the emulator stamps its answers on this clock
            parts = Collected()
            user_function("timer_audit")(TimerRequest(past_due=False), parts)
            for message in parts.get():  # what the host's output binding does with them
                queue.send_message(message)
            queued = time.monotonic() - started
            workers = finish_workers(instances)
            wall = time.monotonic() - started
            time.sleep(0.5)  # the servers' logs are written as statements run
        shared_runtime.cache_clear()
        requests = [r for r in w.emulator.requests if r.kind != "token" and not r.path.startswith("/topics/")]
        blob = BlobServiceClient.from_connection_string("UseDevelopmentStorage=true").get_blob_client(
            REPORTS, "latest.json"
        )
        report = json.loads(blob.download_blob().readall())
    by_subscription = floors(requests, TokenBuckets())
    floor = max(by_subscription.values())
    databases = [(t["engine"], t["database"]) for t in targets]
    per_db = {db: (pg if engine == "postgres" else my).reads(db) for engine, db in databases}
    statuses = Counter(entry["status"] for entry in report["apps"])
    throttled = sum(1 for r in requests if r.status == 429)
    settings_reads = [r.answered_at - started for r in requests if r.method == "POST" and r.path.endswith("/list")]
    return {
        "estate_apps": len(report["apps"]),
        "estate_subscriptions": len({parse_app_id(a["app"]).subscription for a in report["apps"]}),
        "estate_servers": {"postgres": POSTGRES, "mysql": MYSQL},
        "estate_parts": len(parts.get()),
        "estate_workers": len(workers),
        "estate_failures": statuses.get("error", 0),
        "estate_drifted": statuses.get("drifted", 0),
        "estate_wall_s": round(wall, 2),
        "estate_floor_s": round(floor, 2),
        "estate_floor_sum_s": round(sum(by_subscription.values()), 2),
        "estate_wall_over_floor": round(wall / floor, 3) if floor else None,
        # Where the wall went: the timer's discovery and queueing; then the workers starting and the
        # first parts' database reads, up to the first settings read; the settings reads, which the
        # floor bounds, up to the last one; the report after it.
        "estate_parts_queued_s": round(queued, 2),
        "estate_first_settings_read_s": round(min(settings_reads), 2),
        "estate_last_settings_read_s": round(max(settings_reads), 2),
        "estate_arm_requests": len(requests),
        "estate_throttled_429": throttled,
        "estate_throttled_ratio": round(throttled / len(requests), 4) if requests else None,
        "estate_catalog_queries_per_db_max": max(per_db.values()),
        "estate_catalog_queries_per_db_min": min(per_db.values()),
        "estate_server_wide_reads_postgres": pg.reads("postgres"),
        "estate_db_writes": pg.total_writes() + my.total_writes(),
        "estate_worker_peak_rss_mb": max(worker["peak_rss_mb"] for worker in workers),
        "estate_worker_peak_rss_mb_each": [worker["peak_rss_mb"] for worker in workers],
        "estate_worker_parts": [worker["parts"] for worker in workers],
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
