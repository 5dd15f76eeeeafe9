"""Event to converged: a new tagged app's ARM event delivered to the Event Grid function, with
100 ms added to every ARM call, until the app is provisioned. 50 events."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from bench.harness import SUBSCRIPTION, world
from provisioning.runtime import shared_runtime
from triggers.eventgrid import handle_event

EVENTS = 50
LATENCY_S = 0.1


def measure() -> dict[str, Any]:
    durations: list[float] = []
    with world(latency_s=LATENCY_S) as w:
        shared_runtime.cache_clear()
        runtime = shared_runtime()
        for _ in range(EVENTS):
            site_id = w.emulator.create_site(SUBSCRIPTION, "rg-apps", f"evt-{uuid.uuid4().hex[:8]}",
                                             tags={"passwordless": "db00:reader"})
            event = next(e for e in w.emulator.events if e["subject"] == site_id)
            started = time.perf_counter()
            outcome = handle_event(event, runtime)
            durations.append(time.perf_counter() - started)
            assert outcome == "converged", outcome
        shared_runtime.cache_clear()
    quantiles = statistics.quantiles(durations, n=20)
    return {"event_to_converged_p50_s": round(statistics.median(durations), 3),
            "event_to_converged_p95_s": round(quantiles[18], 3), "event_count": EVENTS}


if __name__ == "__main__":
    print(measure())
