"""Generated histories, one state machine per engine: PostgreSQL and MySQL on the real local servers,
Azure SQL on the recording connection. ``make test`` runs a fixed (derandomized) set of histories;
``make soak`` runs twenty times as many, freshly random each time.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from psycopg2 import sql

from emulator.mysql_local import RootLogin, root_connection
from emulator.postgres_local import owner_connection
from provisioning.models import Engine
from provisioning.runtime import shared_runtime
from tests.conftest import MARIADB_HOST, MARIADB_PORT
from tests.estates import mysql_server, mysql_server_id, server_id, sql_server_id
from tests.model.histories import History
from tests.model.servers import OWNED_TABLE, MysqlServer, PostgresServer, SqlServer
from tests.model.world import TargetSpec, World

pytestmark = pytest.mark.integration

SOAK = os.environ.get("MODEL_SOAK", "") == "1"
HISTORIES = int(os.environ.get("MODEL_HISTORIES", "0")) or 30 * (20 if SOAK else 1)
STEPS = 13  # the first creates the app; every history runs all of them (hypothesis stops early only to shrink)
SETTINGS = settings(
    max_examples=HISTORIES,
    stateful_step_count=STEPS,
    derandomize=not SOAK,  # make test: the same histories on every run; soak: new ones each time
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
    **({"phases": [Phase.explicit, Phase.generate]} if os.environ.get("MODEL_SHRINK") == "0" else {}),
)


def run_histories(world: World, engine: Engine) -> None:
    machine = type(f"{engine.value.capitalize()}History", (History,), {"world": world, "engine": engine, "counter": 0})
    run_state_machine_as_test(machine, settings=SETTINGS)


@pytest.fixture(autouse=True)
def unthrottled(emulator: Any) -> Iterator[None]:
    """Histories are about convergence, not ARM's rate limits (tests/faults and tests/emulator cover
    those): a second of Retry-After per throttled write, or the product pacing itself to Resource Graph's
    15 queries per 5 seconds, would take most of the suite's time."""
    previous, quota = emulator.throttle, emulator.set_graph_quota(1000)
    emulator.set_throttle(None)
    yield
    emulator.set_throttle(previous)
    emulator.set_graph_quota(quota)


@pytest.fixture
def catalog_file(
    product_environment: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    path = tmp_path / "catalog.json"
    monkeypatch.setenv("PASSWORDLESS_CATALOG", str(path))
    shared_runtime.cache_clear()
    yield path
    shared_runtime.cache_clear()


def test_postgres_histories(
    emulator: Any, local_postgres: dict[str, Any], estate: dict[str, Any], run_id: str, catalog_file: Path
) -> None:
    orders, ledger = local_postgres["databases"]
    for database in (orders, ledger):
        with owner_connection(local_postgres, database) as conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} (id serial PRIMARY KEY, note text)").format(
                    sql.Identifier(OWNED_TABLE)
                )
            )
    server = PostgresServer(local_postgres)
    targets = (TargetSpec("orders", orders, "report"), TargetSpec("ledger", ledger, "revoke"))
    world = World(emulator, server, server_id(estate), targets, catalog_file, run_id)
    try:
        run_histories(world, Engine.POSTGRES)
    finally:
        server.close()


def test_mysql_histories(
    emulator: Any,
    local_mysql: dict[str, Any],
    mysql_proxy: Any,
    estate: dict[str, Any],
    run_id: str,
    catalog_file: Path,
) -> None:
    root = RootLogin(host=MARIADB_HOST, port=int(MARIADB_PORT))
    orders, journal = mysql_server(estate)["databases"]
    for database in (orders, journal):
        with root_connection(database, root=root) as conn, conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS `{OWNED_TABLE}` (id int AUTO_INCREMENT PRIMARY KEY, note varchar(40))"
            )
    targets = (TargetSpec("orders", orders, "report"), TargetSpec("ledger", journal, "revoke"))
    server = MysqlServer(root, mysql_proxy.port)
    world = World(emulator, server, mysql_server_id(estate), targets, catalog_file, run_id)
    try:
        run_histories(world, Engine.MYSQL)
    finally:
        server.close()


def test_sql_histories(
    emulator: Any, estate: dict[str, Any], run_id: str, catalog_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = SqlServer()
    # The product's driver, pyodbc, reaches the recording connection (no SQL Server can run here).
    monkeypatch.setitem(sys.modules, "pyodbc", types.SimpleNamespace(connect=server.connect))
    targets = (TargetSpec("orders", "sales", "report"), TargetSpec("ledger", "billing", "revoke"))
    world = World(emulator, server, sql_server_id(estate), targets, catalog_file, run_id)
    world.on_history = lambda: server.reset([t.database for t in targets])
    run_histories(world, Engine.SQL)
