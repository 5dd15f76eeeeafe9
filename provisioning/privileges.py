"""Expand a role profile into the exact grants an engine should hold, given the objects in scope.

Pure, so the planner can diff desired against observed without touching a database.
"""

from __future__ import annotations

from provisioning.models import DatabaseState, Engine, Grant, Privilege, RoleProfile, Target

POSTGRES_TABLE_PRIVILEGES = (Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE, Privilege.DELETE)


DML = (Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE, Privilege.DELETE)
# ``CREATE`` (the ddl profile) lets an app run its own migrations. MySQL's DROP on ``db``.* would also
# allow DROP DATABASE, so it is deliberately not part of it.
MYSQL_DDL = ("CREATE", "ALTER", "INDEX", "REFERENCES")
SQL_DDL_DATABASE = ("CREATE TABLE", "CREATE VIEW")
SQL_DDL_SCHEMA = ("ALTER",)


def expected_grants(target: Target, profile: RoleProfile, state: DatabaseState) -> frozenset[Grant]:
    """Every grant the principal should hold inside the target's managed scope, and nothing else."""
    if target.engine is Engine.POSTGRES:
        return _postgres(target, profile, state)
    if target.engine is Engine.MYSQL:
        return _mysql(target, profile)
    return _sql(target, profile)


def _mysql(target: Target, profile: RoleProfile) -> frozenset[Grant]:
    """MySQL grants live on ``db``.*: one object, the database."""
    privileges = {p.value for p in DML if p in profile.privileges}
    if Privilege.CREATE in profile.privileges:
        privileges |= set(MYSQL_DDL)
    return frozenset(Grant("database", (target.database,), p) for p in privileges)


def _sql(target: Target, profile: RoleProfile) -> frozenset[Grant]:
    """Azure SQL: DML on each managed schema; CONNECT comes with the user and stays."""
    grants = {Grant("database", (target.database,), "CONNECT")}
    for schema in target.schemas:
        grants |= {Grant("schema", (schema,), p.value) for p in DML if p in profile.privileges}
        if Privilege.CREATE in profile.privileges:
            grants |= {Grant("schema", (schema,), p) for p in SQL_DDL_SCHEMA}
    if Privilege.CREATE in profile.privileges:
        grants |= {Grant("database", (target.database,), p) for p in SQL_DDL_DATABASE}
    return frozenset(grants)


def _postgres_sequence_privileges(profile: RoleProfile) -> set[str]:
    """SELECT reads ``currval``; INSERT/UPDATE need ``nextval`` (USAGE) for serial keys."""
    wanted = set()
    if Privilege.SELECT in profile.privileges:
        wanted.add("SELECT")
    if profile.privileges & {Privilege.INSERT, Privilege.UPDATE}:
        wanted.add("USAGE")
    return wanted


def _postgres(target: Target, profile: RoleProfile, state: DatabaseState) -> frozenset[Grant]:
    table_privileges = {p.value for p in POSTGRES_TABLE_PRIVILEGES if p in profile.privileges}
    sequence_privileges = _postgres_sequence_privileges(profile)
    grants = {Grant("database", (target.database,), "CONNECT")}
    for schema in target.schemas:
        grants.add(Grant("schema", (schema,), "USAGE"))
        if Privilege.CREATE in profile.privileges:
            grants.add(Grant("schema", (schema,), "CREATE"))
        if state.default_owner is not None:
            grants |= {Grant("default_table", (state.default_owner, schema), p) for p in table_privileges}
            grants |= {Grant("default_sequence", (state.default_owner, schema), p) for p in sequence_privileges}
    for name in state.objects.get("table", ()):
        if name[0] in target.schemas:
            grants |= {Grant("table", name, p) for p in table_privileges}
    for name in state.objects.get("sequence", ()):
        if name[0] in target.schemas:
            grants |= {Grant("sequence", name, p) for p in sequence_privileges}
    return frozenset(grants)
