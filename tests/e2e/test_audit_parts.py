"""The deployed audit path reads each database once however many apps use it, counted by PostgreSQL.

300 apps on one database go through the timer's handler (parts queued) and the queue's handler (each
part audited, the last one writing the report); PostgreSQL's own statement log says how often the
database was read. Parts of 100 apps each re-reading their database would show 3 or more reads.
"""

from __future__ import annotations

import json
import time

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from bench.harness import SUBSCRIPTION, world
from emulator.statement_counts import postgres_statements
from provisioning.runtime import shared_runtime
from tests.e2e.test_timer_audit import Messages, report
from tests.functions_index import user_function

pytestmark = pytest.mark.integration
APPS = 300


def test_catalog_queries_per_database_do_not_grow_with_apps() -> None:
    with world(servers=1, throttle=False) as w:
        for number in range(APPS):
            w.emulator.create_site(SUBSCRIPTION, "rg-apps", f"parts-{number:03d}", tags={"passwordless": "db00:reader"})
        database = w.catalog["targets"][0]["database"]
        shared_runtime.cache_clear()
        try:
            with postgres_statements(w.estate["function_identity"]["name"]) as counted:
                parts = Messages()
                user_function("timer_audit")(TimerRequest(past_due=False), parts)
                for index, text in enumerate(parts.get()):
                    user_function("queue_audit_part")(func.QueueMessage(id=f"part-{index}", body=text.encode()))
                time.sleep(0.2)  # the server's log is written as statements run; let the last line land
            document = json.loads(report("latest.json", "UseDevelopmentStorage=true"))
        finally:
            shared_runtime.cache_clear()
    assert len(document["apps"]) == APPS
    assert counted.reads(database) == 1  # one snapshot of the database, for all 300 apps and the orphans
    assert counted.reads("postgres") == 1  # the server-wide Entra bindings, once
    assert counted.total_writes() == 0
