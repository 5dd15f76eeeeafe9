"""Cold start: importing ``function_app`` (indexing every function) against importing every SDK and
driver eagerly, each in fresh interpreters, side by side in one run; best of several."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7
LAZY = "import function_app; function_app.app.get_functions()"
EAGER_MODULES = (
    "azure.identity", "azure.mgmt.web", "azure.mgmt.msi", "azure.mgmt.postgresqlflexibleservers",
    "azure.mgmt.mysqlflexibleservers", "azure.mgmt.sql", "azure.mgmt.resourcegraph", "azure.storage.blob",
    "azure.data.tables", "azure.eventgrid", "psycopg2", "pymysql",
)
EAGER = LAZY + "; " + "; ".join(f"import {m}" for m in EAGER_MODULES)


def best_of(code: str) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def measure() -> dict[str, Any]:
    lazy, eager = best_of(LAZY), best_of(EAGER)  # interleaving would be fairer still; best-of damps noise
    return {"cold_start_lazy_s": round(lazy, 3), "cold_start_eager_s": round(eager, 3),
            "cold_start_ratio": round(lazy / eager, 3)}


if __name__ == "__main__":
    print(measure())
