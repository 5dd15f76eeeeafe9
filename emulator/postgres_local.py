"""Prepare the local PostgreSQL to stand in for the estate's Azure flexible servers, and reset it.

Azure gives each server Entra administrators (LOGIN roles with CREATEROLE, members of
``azure_pg_admin``, not superusers) and the Azure-only ``pgaadauth_*`` functions. Here the
administrators become plain roles with the same powers, the functions come from
``postgres_shim.sql``, and each database gets an owner role and no PUBLIC access, so that a
principal can reach a database only through grants the product makes: that is what lets the
tests prove least privilege.

Every server of the estate is assumed to live on the one local server behind
``superuser_dsn``; names shared between servers (an administrator, a database) are prepared
once. Prepare and reset serialise on an advisory lock, so concurrent test sessions are safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import psycopg2
import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from emulator.estate import stable_uuid

__all__ = [
    "DEFAULT_SUPERUSER_DSN",
    "SHIM_SQL",
    "install_shim",
    "owner_connection",
    "owner_role",
    "prepare_postgres",
    "reset_postgres",
    "server_dsn",
]

DEFAULT_SUPERUSER_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
SHIM_SQL = Path(__file__).with_name("postgres_shim.sql")

_SHIM_FUNCTIONS = (
    "public.pgaadauth_create_principal_with_oid(text, text, text, boolean, boolean)",
    "public.pgaadauth_list_principals(boolean)",
)
# ARM's administrator principalType -> pgaadauth's objectType.
_PRINCIPAL_TYPES = {"user": "user", "group": "group", "serviceprincipal": "service", "service": "service"}
# The same lock as postgres_shim.sql takes (advisory locks are re-entrant within a session), so
# prepare, reset and any install serialise: concurrent ACL changes on one function would fail.
_LOCK_KEY = "pgaadauth_shim"
_MAX_NAME_BYTES = 63

Connection: TypeAlias = psycopg2.extensions.connection


@dataclass(frozen=True)
class _Admin:
    name: str
    object_id: str
    principal_type: str
    tenant_id: str | None


@dataclass(frozen=True)
class _Plan:
    """What the estate asks of the local server, flattened and de-duplicated."""

    admins: tuple[_Admin, ...]
    # database -> names of the administrators of the servers that hold it
    databases: dict[str, tuple[str, ...]]


def owner_role(database: str) -> str:
    """Name of the NOLOGIN role that owns ``database`` (and its schema ``public``)."""
    return _checked_name(f"{database}_owner")


def server_dsn(server: Mapping[str, Any], *, user: str, database: str = "postgres") -> str:
    """libpq DSN for ``user`` on the estate server (``fqdn``, ``port``); quoting is libpq's."""
    host, port = server.get("fqdn", "127.0.0.1"), int(server.get("port", 5432))
    return str(make_dsn(host=host, port=port, user=user, dbname=database))


def install_shim(*, superuser_dsn: str = DEFAULT_SUPERUSER_DSN) -> None:
    """Install or refresh the ``pgaadauth_*`` shim in database ``postgres`` (idempotent)."""
    with _connect(_with_dbname(superuser_dsn, "postgres")) as conn:
        _install_shim(conn)


def prepare_postgres(estate: Mapping[str, Any], *, superuser_dsn: str = DEFAULT_SUPERUSER_DSN) -> None:
    """Make the local server look like the estate's servers; running it again changes nothing.

    Administrators: LOGIN, CREATEROLE and CREATEDB, never SUPERUSER (as Azure's), registered in
    the shim as Entra administrators and allowed to call the shim. Databases: owned by
    ``<db>_owner``, of which every administrator of the server is a member (so it can grant on
    owned tables and ``ALTER DEFAULT PRIVILEGES FOR ROLE <db>_owner``); no CONNECT or TEMPORARY
    for PUBLIC; schema ``public`` owned by the owner role, with no CREATE for PUBLIC.
    """
    plan = _plan(estate)
    with _connect(_with_dbname(superuser_dsn, "postgres")) as conn, _locked(conn):
        _install_shim(conn)
        for admin in plan.admins:
            _prepare_admin(conn, admin)
        for database, admins in plan.databases.items():
            _prepare_database(conn, database, admins)
    for database in plan.databases:
        with _connect(_with_dbname(superuser_dsn, database)) as conn:
            _prepare_public_schema(conn, owner_role(database))


def reset_postgres(estate: Mapping[str, Any], *, superuser_dsn: str = DEFAULT_SUPERUSER_DSN) -> None:
    """Drop what ``prepare_postgres`` made and every principal the estate's administrators created.

    Principals are those the shim recorded as made by ``pgaadauth_create_principal_with_oid``
    in a session whose ``session_user`` is one of the estate's administrators (the product logs
    in as one; a superuser can ``SET SESSION AUTHORIZATION``, but ``SET ROLE`` does not count),
    whatever their names: so estates sharing the server never drop each other's principals.
    Databases go first (closing their connections); then what the roles still own or were
    granted elsewhere (``DROP OWNED`` in each database that records a dependency); then the
    roles. The shim itself stays: other estates may share the server.
    """
    plan = _plan(estate)
    admin_names = [admin.name for admin in plan.admins]
    with _connect(_with_dbname(superuser_dsn, "postgres")) as conn, _locked(conn):
        with conn.cursor() as cur:
            for database in plan.databases:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        roles = _principals_created_by(conn, admin_names)
        roles += [owner_role(database) for database in plan.databases] + admin_names
        role_oids = _existing_roles(conn, roles)
        if not role_oids:
            return
        for database in _databases_depending_on(conn, list(role_oids.values())):
            with _connect(_with_dbname(superuser_dsn, database)) as db_conn, db_conn.cursor() as cur:
                cur.execute(sql.SQL("DROP OWNED BY {}").format(_identifiers(role_oids)))
        with conn.cursor() as cur:
            for role in role_oids:
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            if _shim_installed(conn):
                cur.execute(
                    "DELETE FROM pgaadauth_shim.principals WHERE role_oid = ANY(%s::oid[])",
                    (list(role_oids.values()),),
                )


@contextmanager
def owner_connection(server: Mapping[str, Any], database: str, *, superuser: str = "postgres") -> Iterator[Connection]:
    """Autocommit connection to ``database`` acting as its owner role, closed on exit.

    The owner role cannot log in (as on Azure, where app tables belong to a migration or owner
    role), so this logs in as the superuser and ``SET ROLE``s: tables created here belong to
    ``<db>_owner``, which is what the product's grants and default privileges target.
    """
    conn = psycopg2.connect(server_dsn(server, user=superuser, database=database))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner_role(database))))
        yield conn
    finally:
        conn.close()


# --- internals ---------------------------------------------------------------------------


def _plan(estate: Mapping[str, Any]) -> _Plan:
    tenant = str(estate.get("tenant_id") or stable_uuid("tenant"))  # as the emulator's ARM side
    admins: dict[str, _Admin] = {}
    databases: dict[str, list[str]] = {}
    for server in _postgres_servers(estate):
        names = []
        for entry in server.get("administrators") or []:
            admin = _admin(entry, default_tenant=entry.get("tenant_id") or tenant)
            admins.setdefault(admin.name, admin)
            names.append(admin.name)
        for database in server.get("databases") or []:
            name = _checked_name(database["name"] if isinstance(database, Mapping) else database)
            owner_role(name)  # fail early when "<db>_owner" would not fit
            members = databases.setdefault(name, [])
            members.extend(n for n in names if n not in members)
    return _Plan(tuple(admins.values()), {db: tuple(members) for db, members in databases.items()})


def _postgres_servers(estate: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for subscription in estate.get("subscriptions") or []:
        for group in subscription.get("resource_groups") or []:
            yield from group.get("postgres_servers") or []


def _admin(entry: Mapping[str, Any], *, default_tenant: str | None) -> _Admin:
    raw_type = str(entry.get("principal_type") or "ServicePrincipal")
    try:
        principal_type = _PRINCIPAL_TYPES[raw_type.lower()]
    except KeyError:
        raise ValueError(
            f"administrator {entry.get('principal_name')!r}: unknown principal_type {raw_type!r}"
        ) from None
    return _Admin(
        name=_checked_name(entry["principal_name"]),
        object_id=str(entry["object_id"]),
        principal_type=principal_type,
        tenant_id=default_tenant,
    )


def _checked_name(name: str) -> str:
    if not name or len(name.encode()) > _MAX_NAME_BYTES:
        raise ValueError(f"PostgreSQL names are 1 to {_MAX_NAME_BYTES} bytes: {name!r}")
    return name


def _with_dbname(dsn: str, database: str) -> str:
    return str(make_dsn(**{**parse_dsn(dsn), "dbname": database}))


@contextmanager
def _connect(dsn: str) -> Iterator[Connection]:
    """Autocommit connection, closed on exit (psycopg2's own ``with`` only ends a transaction)."""
    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = True
        yield conn
    finally:
        conn.close()


@contextmanager
def _locked(conn: Connection) -> Iterator[None]:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(hashtext(%s))", (_LOCK_KEY,))
    try:
        yield
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", (_LOCK_KEY,))


def _install_shim(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute(SHIM_SQL.read_text(encoding="utf-8"))


def _prepare_admin(conn: Connection, admin: _Admin) -> None:
    name = sql.Identifier(admin.name)
    with conn.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (admin.name,))
        row = cur.fetchone()
        if row is None:
            cur.execute(sql.SQL("CREATE ROLE {} WITH LOGIN CREATEROLE CREATEDB").format(name))
        elif row[0]:
            raise ValueError(f"administrator {admin.name!r} is a superuser role here; Azure's never are")
        else:
            cur.execute(sql.SQL("ALTER ROLE {} WITH LOGIN CREATEROLE CREATEDB").format(name))
        cur.execute(
            """
            INSERT INTO pgaadauth_shim.principals
                (role_oid, role_name, object_id, principal_type, tenant_id, is_admin, origin)
            SELECT oid, rolname, %s::uuid, %s, %s, true, 'administrator'
              FROM pg_roles WHERE rolname = %s
            ON CONFLICT (role_oid) DO UPDATE
               SET object_id = excluded.object_id, principal_type = excluded.principal_type,
                   tenant_id = excluded.tenant_id, is_admin = true, origin = 'administrator'
            """,
            (admin.object_id, admin.principal_type, admin.tenant_id, admin.name),
        )
        for function in _SHIM_FUNCTIONS:
            cur.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(function), name))


def _prepare_database(conn: Connection, database: str, admins: Iterable[str]) -> None:
    db, owner = sql.Identifier(database), sql.Identifier(owner_role(database))
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner_role(database),))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE ROLE {} WITH NOLOGIN").format(owner))
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if cur.fetchone() is None:
            # From template0: a session left on template1 (any client may open one) would make it fail.
            cur.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(db, owner))
        else:
            cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, owner))
        for admin in admins:
            cur.execute(sql.SQL("GRANT {} TO {}").format(owner, sql.Identifier(admin)))
        cur.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(db))


def _prepare_public_schema(conn: Connection, owner: str) -> None:
    with conn.cursor() as cur:
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cur.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))


def _shim_installed(conn: Connection) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('pgaadauth_shim.principals') IS NOT NULL")
        row = cur.fetchone()
    return bool(row and row[0])


def _principals_created_by(conn: Connection, admins: list[str]) -> list[str]:
    if not admins or not _shim_installed(conn):
        return []
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT r.rolname FROM pgaadauth_shim.principals p JOIN pg_roles r ON r.oid = p.role_oid
             WHERE p.origin = 'create_principal_with_oid' AND p.created_by = ANY(%s::name[])
            """,
            (admins,),
        )
        return [row[0] for row in cur.fetchall()]


def _existing_roles(conn: Connection, roles: list[str]) -> dict[str, int]:
    """Role name -> OID for those of ``roles`` that exist, first occurrence order kept."""
    with conn.cursor() as cur:
        cur.execute("SELECT rolname, oid FROM pg_roles WHERE rolname = ANY(%s::name[])", (roles,))
        found = dict(cur.fetchall())
    return {role: found[role] for role in dict.fromkeys(roles) if role in found}


def _databases_depending_on(conn: Connection, role_oids: list[int]) -> list[str]:
    """Databases where the roles own objects or hold privileges; always ``postgres``, where
    ``DROP OWNED`` also clears privileges on shared objects (databases) and the shim."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
             WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = ANY(%s::oid[])
               AND d.datallowconn
            """,
            (role_oids,),
        )
        found = {row[0] for row in cur.fetchall()}
    return ["postgres", *sorted(found - {"postgres"})]


def _identifiers(names: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)
