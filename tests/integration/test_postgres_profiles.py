"""Role profiles on the real PostgreSQL, proven by logging in as the principal: walking one app
through reader, writer, ddl and a custom profile, up and down, and hostile names."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from psycopg2 import errors

from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.reconciler import Mode
from provisioning.resource_ids import parse_app_id
from tests.estates import APPS_GROUP, SUBSCRIPTION

pytestmark = pytest.mark.integration


def may(cur: Any, statement: str) -> bool:
    """Run as the principal: True if allowed, False if refused for lack of privilege."""
    try:
        cur.execute(statement)
    except errors.InsufficientPrivilege:
        return False
    return True


CHECKS: dict[str, str] = {
    "select": "SELECT count(*) FROM orders",
    "insert": "INSERT INTO orders (item) VALUES ('matrix')",
    "update": "UPDATE orders SET item = item WHERE false",
    "delete": "DELETE FROM orders WHERE false",
    "create": "CREATE TABLE IF NOT EXISTS {table} (id int)",
    "truncate": "TRUNCATE orders",
}
EXPECTED = {
    "reader": {"select"},
    "auditor": {"select"},  # the catalog's custom profile: [SELECT]
    "writer": {"select", "insert", "update", "delete"},
    "ddl": {"select", "insert", "update", "delete", "create"},
}


@pytest.fixture
def login(pg_connect: Any) -> Callable[[str], dict[str, bool]]:
    def allowed(name: str) -> dict[str, bool]:
        with pg_connect(name) as conn, conn.cursor() as cur:
            return {
                check: may(cur, statement.format(table=f"made_{uuid.uuid4().hex[:6]}"))
                for check, statement in CHECKS.items()
            }

    return allowed


def test_walking_profiles_up_and_down(emulator: Any, runtime: Any, login: Callable[[str], dict[str, bool]]) -> None:
    app = parse_app_id(
        emulator.create_site(
            SUBSCRIPTION, APPS_GROUP, f"walk-{uuid.uuid4().hex[:8]}", tags={"passwordless": "orders:reader"}
        )
    )
    name = principal_name(app, Engine.POSTGRES)
    for profile in ("reader", "writer", "ddl", "writer", "auditor", "ddl", "reader"):
        emulator.set_tags(app.id, {"passwordless": f"orders:{profile}"})
        runtime.reconciler.reconcile_app(app)
        assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty
        allowed = login(name)
        assert {check for check, ok in allowed.items() if ok} == EXPECTED[profile], profile


@pytest.mark.parametrize(
    "hostile",
    ['a"b', "a]b", "a`b", "o'neil; DROP TABLE t;--", "ünïcødé-名前-🙂", "x" * 70],
    ids=["double-quote", "bracket", "backtick", "injection", "unicode", "long"],
)
def test_hostile_names_give_exactly_one_role(emulator: Any, runtime: Any, pg_connect: Any, hostile: str) -> None:
    with pg_connect("postgres") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS t (id int)")
    app = parse_app_id(
        emulator.create_site(
            SUBSCRIPTION, APPS_GROUP, hostile + uuid.uuid4().hex[:4], tags={"passwordless": "orders:reader"}
        )
    )
    runtime.reconciler.reconcile_app(app)
    name = principal_name(app, Engine.POSTGRES)
    with pg_connect("postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (name,))
        assert cur.fetchone() == (1,)
        cur.execute("SELECT to_regclass('public.t') IS NOT NULL")
        assert cur.fetchone() == (True,)
    assert len(name.encode()) <= 63
    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty
