"""Simultaneous reconciles, as function instances would run them: ten of one app, and many apps on
one database."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg2
import pymysql
import pytest

from provisioning.azure.credentials import default_credential
from provisioning.azure.locks import AppLocks
from provisioning.config import Config
from provisioning.errors import LockBusy
from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.reconciler import Mode
from provisioning.resource_ids import parse_app_id
from provisioning.runtime import build_runtime
from tests.estates import APPS_GROUP, SUBSCRIPTION

pytestmark = pytest.mark.integration
UNRELATED = {f"SETTING_{n}": f"value-{n}" for n in range(20)}


def test_ten_concurrent_reconciles_write_once_and_lose_nothing(
    emulator: Any, product_environment: dict[str, str], pg_connect: Any
) -> None:
    site_id = emulator.create_site(
        SUBSCRIPTION,
        APPS_GROUP,
        f"busy-{uuid.uuid4().hex[:8]}",
        tags={"passwordless": "orders:writer"},
        app_settings=UNRELATED,
    )
    app = parse_app_id(site_id)
    instances = [build_runtime(Config.from_environment()) for _ in range(10)]  # separate clients and caches
    emulator.clear_requests()
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda runtime: runtime.reconciler.reconcile_app(app), instances))

    assert sum(1 for r in results if r.applied) == 1
    assert all(r.plan.empty for r in results if not r.applied)
    puts = [r for r in emulator.requests if r.method == "PUT" and r.path.lower().endswith("/config/appsettings")]
    patches = [r for r in emulator.requests if r.method == "PATCH"]
    assert (len(puts), len(patches)) == (1, 1)
    settings = emulator.app_settings(site_id)
    assert {k: settings[k] for k in UNRELATED} == UNRELATED
    with pg_connect("postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (principal_name(app, Engine.POSTGRES),))
        assert cur.fetchone() == (1,)


def test_a_held_lock_makes_a_second_apply_wait_then_give_up(emulator: Any, product_environment: dict[str, str]) -> None:
    app = parse_app_id(emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"held-{uuid.uuid4().hex[:8]}"))
    config = Config.from_environment()
    holder = AppLocks(default_credential(), config)
    impatient = AppLocks(default_credential(), config, wait_seconds=0.5)
    with holder.hold(app), pytest.raises(LockBusy, match="holds its lock"), impatient.hold(app):
        pass
    with impatient.hold(app):  # released: free again
        pass


APPS_AT_ONCE = 8


def new_apps(emulator: Any, prefix: str, tags: list[str]) -> list[Any]:
    return [
        parse_app_id(
            emulator.create_site(
                SUBSCRIPTION, APPS_GROUP, f"{prefix}-{uuid.uuid4().hex[:8]}", tags={"passwordless": tag}
            )
        )
        for tag in tags
    ]


def reconcile_side_by_side(emulator: Any, tags: list[str]) -> list[Any]:
    """New apps, one per tag, each reconciled by its own runtime (as separate function instances
    would) at the same moment; every result back, or the first error raised."""
    apps = new_apps(emulator, "crowd", tags)
    instances = [build_runtime(Config.from_environment()) for _ in apps]
    with ThreadPoolExecutor(max_workers=len(apps)) as pool:
        results = list(
            pool.map(lambda pair: pair[0].reconciler.reconcile_app(pair[1]), zip(instances, apps, strict=True))
        )
    assert all(r is not None and r.applied for r in results)
    for app, instance in zip(apps, instances, strict=True):
        assert instance.reconciler.reconcile_app(app, Mode.PLAN).plan.empty, app.site
    return apps


def prove_orders_access(connect: Any, engine: Engine, apps: list[Any], tags: list[str], refusal: type) -> None:
    """Log in as each app's principal: everyone reads, writers write, readers are refused."""
    for app, tag in zip(apps, tags, strict=True):
        with connect(principal_name(app, engine)) as conn, conn.cursor() as cur:
            cur.execute("SELECT item FROM orders ORDER BY id LIMIT 1")
            assert cur.fetchone() == ("first",)
            if tag.endswith(":writer"):
                cur.execute("INSERT INTO orders (item) VALUES ('side by side')")
                assert cur.rowcount == 1
            else:
                with pytest.raises(refusal):
                    cur.execute("INSERT INTO orders (item) VALUES ('nope')")


def test_apps_provisioned_at_once_on_one_postgres_database_all_converge(
    emulator: Any, product_environment: dict[str, str], pg_connect: Any
) -> None:
    """Their grants change the same catalog rows (the database's, the schema's, each table's ACL, the
    default privileges), which PostgreSQL refuses to let two transactions do at once."""
    tags = ["orders:writer", "orders:reader"] * (APPS_AT_ONCE // 2)
    apps = reconcile_side_by_side(emulator, tags)
    prove_orders_access(pg_connect, Engine.POSTGRES, apps, tags, psycopg2.errors.InsufficientPrivilege)


def test_apps_retired_while_others_are_provisioned_on_one_postgres_database_all_converge(
    emulator: Any, product_environment: dict[str, str], local_postgres: dict[str, Any], pg_connect: Any
) -> None:
    """A retirement revokes the database privilege (a row of a catalog the whole server shares) from
    the admin database while the newcomers grant it: both must take the same lock."""
    tags = ["ledger:reader", "ledger:writer"] * (APPS_AT_ONCE // 4)
    leaving = new_apps(emulator, "leave", tags)
    setup = build_runtime(Config.from_environment())
    assert all(setup.reconciler.reconcile_app(app).applied for app in leaving)
    for app in leaving:
        emulator.delete_site(app.id)
    instances = [build_runtime(Config.from_environment()) for _ in leaving]
    with ThreadPoolExecutor(max_workers=len(leaving)) as pool:
        retired = pool.map(lambda pair: pair[0].reconciler.remove_app(pair[1]), zip(instances, leaving, strict=True))
        arrived = reconcile_side_by_side(emulator, tags)
        assert all(r.applied for r in retired)
    with pg_connect("postgres") as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)",
            ([principal_name(app, Engine.POSTGRES) for app in leaving],),
        )
        assert cur.fetchone() == (0,)
    ledger = local_postgres["databases"][1]
    for app in arrived:
        with pg_connect(principal_name(app, Engine.POSTGRES), ledger) as conn, conn.cursor() as cur:
            cur.execute("SELECT has_schema_privilege('public', 'USAGE')")
            assert cur.fetchone() == (True,)


def test_apps_provisioned_at_once_on_one_mysql_database_all_converge(
    emulator: Any, product_environment: dict[str, str], local_mysql: dict[str, Any], mysql_connect: Any
) -> None:
    """The same crowd on MariaDB, which takes no lock of ours and needs none: it converges as it is."""
    tags = ["orders-mysql:writer", "orders-mysql:reader"] * (APPS_AT_ONCE // 2)
    apps = reconcile_side_by_side(emulator, tags)
    prove_orders_access(mysql_connect, Engine.MYSQL, apps, tags, pymysql.err.OperationalError)
