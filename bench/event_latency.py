"""Event to converged: a new tagged app's ARM event delivered to the Event Grid function, with
100 ms added to every ARM call, until the app is provisioned. 50 events.

The floor printed beside it is the chain of ARM calls that must wait for each other, at 100 ms
each: every ARM call of the event counts once, except that reading a site and reading its settings
need nothing from each other and go side by side (one round for the pair). It is taken from the
emulator's request log of each event, so a call added to the path raises the floor too.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from typing import Any

from bench.harness import SUBSCRIPTION, arm_calls, world
from provisioning.runtime import shared_runtime
from triggers.eventgrid import handle_event

EVENTS = 50
LATENCY_S = 0.1
_SITE = re.compile(r"/providers/Microsoft\.Web/sites/[^/]+$", re.IGNORECASE)
_SETTINGS = re.compile(r"/config/appsettings/list$", re.IGNORECASE)


def rounds(requests: list[Any]) -> int:
    """ARM round trips that depend on each other: site and settings reads pair up."""
    site_reads = sum(1 for r in requests if r.method == "GET" and _SITE.search(r.path))
    settings_reads = sum(1 for r in requests if r.method == "POST" and _SETTINGS.search(r.path))
    return len(requests) - min(site_reads, settings_reads)


def measure() -> dict[str, Any]:
    durations: list[float] = []
    chains: list[int] = []
    with world(latency_s=LATENCY_S) as w:
        shared_runtime.cache_clear()
        runtime = shared_runtime()
        for _ in range(EVENTS):
            site_id = w.emulator.create_site(SUBSCRIPTION, "rg-apps", f"evt-{uuid.uuid4().hex[:8]}",
                                             tags={"passwordless": "db00:reader"})
            event = next(e for e in w.emulator.events if e["subject"] == site_id)
            w.emulator.clear_requests()
            started = time.perf_counter()
            outcome = handle_event(event, runtime)
            durations.append(time.perf_counter() - started)
            chains.append(rounds(arm_calls(w.emulator)))
            assert outcome == "converged", outcome
        shared_runtime.cache_clear()
    quantiles = statistics.quantiles(durations, n=20)
    return {"event_to_converged_p50_s": round(statistics.median(durations), 3),
            "event_to_converged_p95_s": round(quantiles[18], 3), "event_count": EVENTS,
            "event_floor_s": round(statistics.median(chains) * LATENCY_S, 3),
            "event_chain_calls": int(statistics.median(chains))}


if __name__ == "__main__":
    print(measure())
