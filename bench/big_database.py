"""One shared database server with 2,000 principals: how long the audit's snapshot of it takes and
how many statements it costs, counted by PostgreSQL itself.

The principals are made as the product makes them (the function's admin login calling
``pgaadauth_create_principal_with_oid``, then granting on the database's table), so the snapshot
reads what it would read in Azure; set-up is not measured.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg2
from psycopg2 import sql

from bench.harness import world
from emulator.statement_counts import postgres_statements
from provisioning.config import Config
from provisioning.runtime import build_runtime

PRINCIPALS = 2000


def add_principals(login: str, database: str) -> None:
    """Entra principals are server-wide, made through the admin database; grants are the database's."""
    names = [f"big-app-{number:04d}" for number in range(PRINCIPALS)]
    for dbname, statements in (
        ("postgres", lambda cur, name: cur.execute(
            "SELECT pgaadauth_create_principal_with_oid(%s, %s, 'service', false, false)", (name, str(uuid.uuid4())))),
        (database, lambda cur, name: cur.execute(sql.SQL(
            "GRANT CONNECT ON DATABASE {db} TO {p}; GRANT USAGE ON SCHEMA public TO {p}; "
            "GRANT SELECT ON public.orders TO {p}").format(db=sql.Identifier(database), p=sql.Identifier(name)))),
    ):
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user=login, dbname=dbname)
        try:
            with conn, conn.cursor() as cur:
                for name in names:
                    statements(cur, name)
        finally:
            conn.close()


def measure() -> dict[str, Any]:
    with world(servers=1, throttle=False) as w:
        login = w.estate["function_identity"]["name"]
        (target,) = w.catalog["targets"]
        add_principals(login, target["database"])
        runtime = build_runtime(Config.from_environment())
        catalog_target = runtime.reconciler.catalog.targets[target["name"]]
        with postgres_statements(login) as counted:
            with runtime.reconciler.batch() as batch:
                started = time.perf_counter()
                snapshot = batch.snapshot(catalog_target)
                seconds = time.perf_counter() - started
            time.sleep(0.2)  # the server's log is written as statements run
    held = sum(1 for name in snapshot.grants if name.startswith("big-app-"))
    assert held == PRINCIPALS, f"the snapshot saw {held} of {PRINCIPALS} principals"
    return {
        "big_db_principals": PRINCIPALS,
        "big_db_snapshot_s": round(seconds, 3),
        "big_db_snapshot_queries": counted.reads(target["database"]) + counted.reads("postgres"),
    }


if __name__ == "__main__":
    print(measure())
