"""Shared fixtures: the real local PostgreSQL, the Azure emulator, and the product wired to both.

Integration tests need the real servers. Locally a missing server skips them with the reason;
when ``CI`` is set it fails them, so a green CI run always means they ran.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.estates import FUNCTION_OBJECT_ID, SUBSCRIPTION, build_catalog, build_estate, mysql_server

POSTGRES_DSN = os.environ.get("POSTGRES_SUPERUSER_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
MARIADB_HOST, _, MARIADB_PORT = os.environ.get("MARIADB_ADDRESS", "127.0.0.1:3306").rpartition(":")


def require(reason: str | None) -> None:
    """Skip locally, fail in CI: a missing service must never pass as a skipped test there."""
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


def postgres_problem() -> str | None:
    import psycopg2

    try:
        psycopg2.connect(POSTGRES_DSN, connect_timeout=3).close()
    except psycopg2.Error as exc:
        return f"PostgreSQL at {POSTGRES_DSN!r} is unreachable: {str(exc).strip()}"
    return None


def fresh_worker_pacing() -> None:
    """Forget what the product's ARM pacing mirror has spent, as a newly started worker would.

    The mirror is process-wide, and the emulator answers without rate-limit headers unless a test
    turns its throttling on; without headers to reset it, a long test session would draw the mirror
    down to ARM's refill rate and every later test would wait on budget it never really used."""
    from provisioning.azure.arm import PACING
    from provisioning.azure.pacing import ArmPacing

    fresh = vars(ArmPacing())  # every field a new worker starts with (tokens, callers, holds, Graph's block)
    with PACING._lock:
        vars(PACING).update({name: value for name, value in fresh.items() if name != "_lock"})


@pytest.fixture(autouse=True)
def _fresh_pacing_per_test() -> None:
    fresh_worker_pacing()


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Azurite on its default ports (so ``UseDevelopmentStorage=true`` reaches it); reused if running."""
    from emulator.azurite import AzuriteUnavailable, running_azurite

    try:
        context = running_azurite()
        connection = context.__enter__()
    except AzuriteUnavailable as exc:
        require(str(exc))
        raise
    yield connection
    context.__exit__(None, None, None)


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


def mariadb_problem() -> str | None:
    import pymysql

    try:
        pymysql.connect(host=MARIADB_HOST, port=int(MARIADB_PORT), user="root", connect_timeout=3).close()
    except pymysql.Error as exc:
        return f"MariaDB at {MARIADB_HOST}:{MARIADB_PORT} is unreachable: {exc}"
    return None


@pytest.fixture(scope="session")
def mysql_proxy() -> Iterator[Any]:
    """The MySQL shim proxy in front of the local MariaDB: the emulated MySQL servers' endpoint."""
    from emulator.mysql_proxy import MysqlShimProxy

    with MysqlShimProxy.start(upstream=(MARIADB_HOST, int(MARIADB_PORT))) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def estate(run_id: str, mysql_proxy: Any) -> dict[str, Any]:
    return build_estate(run_id, mysql_port=mysql_proxy.port)


@pytest.fixture(scope="session")
def local_postgres(estate: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The estate's servers, databases and admins created on the real PostgreSQL, removed after."""
    require(postgres_problem())
    from emulator.postgres_local import owner_connection, prepare_postgres, reset_postgres

    prepare_postgres(estate, superuser_dsn=POSTGRES_DSN)
    server = estate["subscriptions"][0]["resource_groups"][1]["postgres_servers"][0]
    database = server["databases"][0]
    with owner_connection(server, database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL)")
        cur.execute("INSERT INTO orders (item) VALUES ('first')")
        cur.execute("CREATE TABLE canary (id int)")
    yield server
    reset_postgres(estate, superuser_dsn=POSTGRES_DSN)


@pytest.fixture(scope="session")
def local_mysql(estate: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The estate's MySQL server on the real MariaDB: databases, its admin, a table; removed after."""
    require(mariadb_problem())
    from emulator.mysql_local import RootLogin, prepare_mysql, reset_mysql, root_connection

    root = RootLogin(host=MARIADB_HOST, port=int(MARIADB_PORT))
    prepare_mysql(estate, root=root)
    server = mysql_server(estate)
    with root_connection(server["databases"][0], root=root) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, item varchar(100) NOT NULL)")
        cur.execute("INSERT INTO orders (item) VALUES ('first')")
        cur.execute("CREATE TABLE canary (id int)")
    yield server
    reset_mysql(estate, root=root)


@pytest.fixture
def mysql_connect(local_mysql: dict[str, Any], mysql_proxy: Any) -> Any:
    """Log in as a given user the way the app will: through the server's endpoint, a token as password."""
    import pymysql

    @contextmanager
    def connect(user: str, database: str | None = None) -> Iterator[Any]:
        conn = pymysql.connect(
            host="127.0.0.1",
            port=mysql_proxy.port,
            user=user,
            password="stand-in-entra-token",  # the proxy drops it: the local server checks no tokens
            database=database or local_mysql["databases"][0],
            autocommit=True,
            ssl_disabled=True,
        )
        try:
            yield conn
        finally:
            conn.close()

    return connect


@pytest.fixture(scope="session")
def emulator(estate: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from emulator import Emulator

    emu = Emulator.start(estate, state_dir=tmp_path_factory.mktemp("emulator"))
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def product_environment(
    emulator: Any,
    local_postgres: dict[str, Any],
    azurite: str,
    estate: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """The settings a deployed Function App would have, pointed at the emulator."""
    catalog = tmp_path_factory.mktemp("catalog") / "catalog.json"
    catalog.write_text(json.dumps(build_catalog(estate)), encoding="utf-8")
    environment = dict(emulator.environment()) | {
        "PASSWORDLESS_CATALOG": str(catalog),
        "PASSWORDLESS_FUNCTION_OBJECT_ID": FUNCTION_OBJECT_ID,
        "PASSWORDLESS_SUBSCRIPTIONS": SUBSCRIPTION,
        "PASSWORDLESS_APPLY_ROLE": "Passwordless.Apply",
        "WEBSITE_AUTH_ENABLED": "True",  # as App Service sets it with authentication on (infra/ deploys it)
        "AzureWebJobsStorage": azurite,
        "PASSWORDLESS_OUTCOME_TOPIC_ENDPOINT": emulator.topic_endpoint(),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environment.items():
            patch.setenv(key, value)
        yield environment


@pytest.fixture
def runtime(product_environment: dict[str, str]) -> Any:
    """A fresh runtime per test: cold caches, exactly like a new worker process."""
    from provisioning.config import Config
    from provisioning.runtime import build_runtime

    return build_runtime(Config.from_environment())


@pytest.fixture
def pg_connect(local_postgres: dict[str, Any]) -> Any:
    """Log in to the real server as a given role, the way the app will (the token is not checked locally)."""
    import psycopg2

    @contextmanager
    def connect(user: str, database: str | None = None) -> Iterator[Any]:
        conn = psycopg2.connect(
            host="127.0.0.1", port=5432, user=user, dbname=database or local_postgres["databases"][0]
        )
        conn.autocommit = True  # each statement stands alone, so a refused one does not poison the next
        try:
            yield conn
        finally:
            conn.close()

    return connect


def artifacts_dir(name: str) -> Path:
    path = Path(__file__).resolve().parents[1] / ".artifacts" / name
    path.mkdir(parents=True, exist_ok=True)
    return path
