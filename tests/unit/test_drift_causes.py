"""The audit names causes, not their consequences: a principal shared by targets (PostgreSQL roles and
MySQL users are server-wide) that is missing or stale is that, for each of them, never privileges
missing; Azure SQL users live per database, so another database's grants stay its own finding."""

from __future__ import annotations

import pytest

from provisioning.audit import DriftKind, drift_of
from provisioning.catalog import catalog_from_document
from provisioning.models import Grant
from provisioning.plan import CreatePrincipal, EnableSystemIdentity, GrantPrivileges, Plan, RebindPrincipal, Step
from tests.factories import APP, OBJECT_ID, RG, SUB

DATA = f"/subscriptions/{SUB}/resourceGroups/rg-data/providers"
SERVERS = {
    "postgres": f"{DATA}/Microsoft.DBforPostgreSQL/flexibleServers/pg",
    "mysql": f"{DATA}/Microsoft.DBforMySQL/flexibleServers/my",
    "sql": f"{DATA}/Microsoft.Sql/servers/sq",
}
CATALOG = catalog_from_document(
    {
        "targets": [
            {
                "name": f"{engine}-{database}",
                "engine": engine,
                "server": server,
                "database": database,
                "roles": ["reader"],
                "allowed_sources": [f"/subscriptions/{SUB}/resourceGroups/{RG}"],
            }
            for engine, server in SERVERS.items()
            for database in ("one", "two")
        ]
    }
)
NAME = "shop-web"


def grant(target: str) -> GrantPrivileges:
    return GrantPrivileges(target, NAME, (Grant("database", (target.split("-")[1],), "CONNECT"),))


def create(target: str) -> CreatePrincipal:
    return CreatePrincipal(target, NAME, OBJECT_ID)


def rebind(target: str) -> RebindPrincipal:
    return RebindPrincipal(target, NAME, "0ld", OBJECT_ID)


P, S, X = DriftKind.PRINCIPAL_MISSING, DriftKind.PRINCIPAL_STALE_BINDING, DriftKind.PRIVILEGE_MISSING


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            [create("postgres-one"), grant("postgres-one"), grant("postgres-two")],
            [(P, "postgres-one"), (P, "postgres-two")],
            id="postgres-role-missing",
        ),
        pytest.param(
            [create("mysql-two"), grant("mysql-two"), grant("mysql-one")],
            [(P, "mysql-one"), (P, "mysql-two")],
            id="mysql-user-missing",
        ),
        pytest.param(
            [rebind("postgres-one"), grant("postgres-one"), grant("postgres-two")],
            [(S, "postgres-one"), (S, "postgres-two")],
            id="stale-binding",
        ),
        pytest.param(
            [EnableSystemIdentity(APP), rebind("mysql-one"), grant("mysql-one"), grant("mysql-two")],
            [(DriftKind.IDENTITY_DISABLED, None)],
            id="identity-switched-off-is-the-only-cause",
        ),
        pytest.param(
            [create("sql-one"), grant("sql-one"), grant("sql-two")],
            [(P, "sql-one"), (X, "sql-two")],
            id="sql-users-are-per-database",
        ),
        pytest.param(
            [create("postgres-one"), grant("postgres-one"), grant("mysql-one")],
            [(P, "postgres-one"), (X, "mysql-one")],
            id="another-server-is-its-own",
        ),
    ],
)
def test_a_principal_is_the_cause_wherever_it_lives(steps: list[Step], expected: list[tuple[DriftKind, str]]) -> None:
    found = drift_of(Plan(APP, tuple(steps)), CATALOG)
    assert sorted(((d.kind, d.target) for d in found), key=str) == sorted(expected, key=str)
