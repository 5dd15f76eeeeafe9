"""Azure Database for PostgreSQL flexible server, through psycopg2.

Azure-only SQL is confined to two statements (``AZURE_ONLY_*``): creating a principal bound to an
Entra object id and reading that binding back. Everything else is plain PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from provisioning.errors import LoginRefused, PermanentError, TransientError
from provisioning.models import DatabaseSnapshot, DatabaseState, Grant, ServerInfo, Target, TlsMode
from provisioning.plan import (
    BINDING_PLACEHOLDER,
    CreatePrincipal,
    DatabaseStep,
    DropPrincipal,
    GrantPrivileges,
    RebindPrincipal,
    RevokePrivileges,
)

if TYPE_CHECKING:
    from psycopg2.extensions import connection as pg_connection
    from psycopg2.sql import Composable

ADMIN_DATABASE = "postgres"
PORT = 5432
# Keywords cannot be quoted, so only these ever reach SQL text, in this order.
PRIVILEGE_ORDER = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
    "USAGE",
    "CREATE",
    "CONNECT",
    "TEMPORARY",
    "EXECUTE",
    "MAINTAIN",
)
# One lock per database for every apply transaction, whichever principal it is for: two principals'
# grants on one object rewrite the same catalog row (its ACL; the schema's, the database's, the
# default privileges' alike), and PostgreSQL refuses the second writer with "tuple concurrently
# updated" (SQLSTATE XX000, from simple_heap_update in src/backend/access/heap/heapam.c, which
# expects no concurrent update of the row). Advisory locks are keyed within the current database
# (src/backend/utils/adt/lockfuncs.c builds every advisory lock tag with MyDatabaseId), so one key
# is one lock per database; the catalogs shared by the whole server are why ``_statements`` sends
# every change to them to the admin database.
APPLY_LOCK = "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('passwordless-provisioner'))"
ON_CLAUSE = {"database": "DATABASE", "schema": "SCHEMA", "table": "TABLE", "sequence": "SEQUENCE"}
DEFAULT_CLAUSE = {"default_table": "TABLES", "default_sequence": "SEQUENCES"}

AZURE_ONLY_CREATE_PRINCIPAL = "SELECT * FROM pgaadauth_create_principal_with_oid({}, {}, 'service', false, false)"
# Columns are aliased by position: Azure's docs spell the first one both rolname and rolename.
# Without a principal (NULL) it reads every role: the audit's one query per server. The third column,
# plain PostgreSQL, lists the databases where the role owns objects or holds privileges (pg_shdepend;
# shared objects have database 0), each with its owner: where a retirement must run, and who takes over
# what the role owns there.
AZURE_ONLY_READ_BINDINGS = (
    "SELECT r.rolname, p.object_id, ARRAY("
    "SELECT ARRAY[d.datname::text, pg_catalog.pg_get_userbyid(d.datdba)::text] FROM pg_catalog.pg_database d "
    "WHERE d.oid IN (SELECT s.dbid FROM pg_catalog.pg_shdepend s "
    "WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND s.refobjid = r.oid)) "
    "FROM pg_catalog.pg_roles r "
    "LEFT JOIN pgaadauth_list_principals(false) "
    "AS p(role_name, principal_type, object_id, tenant_id, is_mfa, is_admin) ON p.role_name = r.rolname "
    "WHERE %(principal)s::text IS NULL OR r.rolname = %(principal)s"
)
# One round trip per database: privileges in scope (of one principal, or of all when NULL), the
# objects in scope with their owners, and whose default privileges count.
SNAPSHOT = """
WITH p AS (SELECT oid, rolname FROM pg_catalog.pg_roles
            WHERE %(principal)s::text IS NULL OR rolname = %(principal)s),
     s AS (SELECT oid, nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY(%(schemas)s)),
     c AS (SELECT c.oid, c.relkind, c.relname, c.relacl, c.relowner, s.nspname
             FROM pg_catalog.pg_class c JOIN s ON c.relnamespace = s.oid
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S'))
SELECT 'database', ARRAY[d.datname::text], a.privilege_type, p.rolname::text
  FROM pg_catalog.pg_database d, LATERAL aclexplode(d.datacl) a JOIN p ON p.oid = a.grantee
 WHERE d.datname = current_database()
UNION ALL
SELECT 'schema', ARRAY[n.nspname::text], a.privilege_type, p.rolname::text
  FROM pg_catalog.pg_namespace n JOIN s ON s.oid = n.oid, LATERAL aclexplode(n.nspacl) a JOIN p ON p.oid = a.grantee
UNION ALL
SELECT CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END,
       ARRAY[c.nspname::text, c.relname::text], a.privilege_type, p.rolname::text
  FROM c, LATERAL aclexplode(c.relacl) a JOIN p ON p.oid = a.grantee
UNION ALL
SELECT CASE d.defaclobjtype WHEN 'S' THEN 'default_sequence' ELSE 'default_table' END,
       ARRAY[pg_catalog.pg_get_userbyid(d.defaclrole)::text, s.nspname::text], a.privilege_type, p.rolname::text
  FROM pg_catalog.pg_default_acl d JOIN s ON d.defaclnamespace = s.oid,
       LATERAL aclexplode(d.defaclacl) a JOIN p ON p.oid = a.grantee
 WHERE d.defaclobjtype IN ('r', 'S')
UNION ALL
SELECT CASE c.relkind WHEN 'S' THEN 'object:sequence' ELSE 'object:table' END,
       ARRAY[c.nspname::text, c.relname::text], NULL, pg_catalog.pg_get_userbyid(c.relowner)::text
  FROM c
UNION ALL
SELECT 'owner', ARRAY[COALESCE(%(owner)s, pg_catalog.pg_get_userbyid(d.datdba)::text)], NULL, NULL
  FROM pg_catalog.pg_database d WHERE d.datname = current_database()
"""


class PostgresSession:
    """Admin connections to one flexible server; the token is the password, fetched per connection."""

    def __init__(self, server: ServerInfo, login: str, token: Callable[[], str]) -> None:
        self._server = server
        self._login = login
        self._token = token
        self._connections: dict[tuple[str, TlsMode], pg_connection] = {}
        self._all_bindings: dict[str, str | None] | None = None
        self._stakes: dict[str, tuple[str, ...]] = {}  # role -> databases it has a stake in, as read
        self._owners: dict[str, str] = {}  # database -> owner of its managed scope, as read
        self._database_owners: dict[str, str] = {}  # database -> its owner (pg_database.datdba), as read
        self.catalog_queries: dict[str, int] = defaultdict(int)
        self.writes = 0

    # -- connections -------------------------------------------------------------------------
    def _connect(self, database: str, tls: TlsMode) -> pg_connection:
        key = (database, tls)
        existing = self._connections.get(key)
        if existing is not None and not existing.closed:
            return existing
        import psycopg2

        with _database_errors(f"connect to {self._server.fqdn}/{database} as {self._login!r}"):
            conn = psycopg2.connect(
                host=self._server.fqdn,
                port=PORT,
                dbname=database,
                user=self._login,
                password=self._token(),
                sslmode=tls.value,
                connect_timeout=10,
                application_name="passwordless-provisioner",
            )
        self._connections[key] = conn
        return conn

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()

    # -- observe -----------------------------------------------------------------------------
    def observe(self, target: Target, principal: str) -> DatabaseState:
        return self._read(target, principal).state_of(principal)

    def snapshot(self, target: Target) -> DatabaseSnapshot:
        """Every principal's privileges in the target's scope: two queries whatever their number."""
        return self._read(target, None)

    def _read(self, target: Target, principal: str | None) -> DatabaseSnapshot:
        bindings = self._read_bindings(principal, target.tls)
        conn = self._connect(target.database, target.tls)
        parameters = {"principal": principal, "schemas": list(target.schemas), "owner": target.owner_role}
        with _database_errors(f"read privileges in {target.database}"):
            with conn.cursor() as cur:
                cur.execute(SNAPSHOT, parameters)
                rows = cur.fetchall()
            conn.rollback()  # end the read-only transaction
        self.catalog_queries[target.database] += 1
        grants: dict[str, set[Grant]] = defaultdict(set)
        objects: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)
        owner: str | None = None
        for kind, name, privilege, role in rows:
            if kind == "owner":
                owner = name[0]
            elif kind.startswith("object:"):
                objects[kind.split(":", 1)[1]].append((tuple(name), role))
            else:
                grants[role].add(Grant(kind, tuple(name), privilege))
        if owner is not None:
            self._owners[target.database] = owner
        return DatabaseSnapshot(
            principals=bindings,
            grants={role: frozenset(held) for role, held in grants.items()},
            objects={kind: tuple(sorted(names)) for kind, names in objects.items()},
            default_owner=owner,
        )

    def _read_bindings(self, principal: str | None, tls: TlsMode) -> dict[str, str | None]:
        """Bindings are server-wide: a snapshot of several databases of one server reads them once."""
        if principal is None and self._all_bindings is not None:
            return self._all_bindings
        conn = self._connect(ADMIN_DATABASE, tls)
        with _database_errors("read Entra bindings"):
            with conn.cursor() as cur:
                cur.execute(AZURE_ONLY_READ_BINDINGS, {"principal": principal})
                rows = cur.fetchall()
            conn.rollback()
        self.catalog_queries[ADMIN_DATABASE] += 1
        bindings = {name: str(object_id).lower() if object_id else None for name, object_id, _ in rows}
        for name, _, stakes in rows:
            self._stakes[name] = tuple(database for database, _ in stakes or ())
            self._database_owners.update({database: owner for database, owner in stakes or ()})
        if principal is None:
            self._all_bindings = bindings
        return bindings

    # -- render and apply --------------------------------------------------------------------
    def render(self, step: DatabaseStep, target: Target) -> tuple[str, ...]:
        """The statements as text; an object id not known yet shows as a placeholder literal."""
        conn = self._connect(target.database, target.tls)
        return tuple(statement.as_string(conn) for _, statement in self._statements(step, target, preview=True))

    def apply(self, step: DatabaseStep, target: Target) -> None:
        """Run one step: each run of consecutive statements on one database is a transaction, under
        that database's lock (``APPLY_LOCK``; a retirement moves between ``postgres`` and the app
        databases)."""
        import psycopg2

        runs: list[tuple[str, list[Composable]]] = []
        for database, statement in self._statements(step, target, preview=False):
            if runs and runs[-1][0] == database:
                runs[-1][1].append(statement)
            else:
                runs.append((database, [statement]))
        for database, statements in runs:
            conn = self._connect(database, target.tls)
            with _database_errors(f"{step.description} in {database}"):
                try:
                    with conn.cursor() as cur:
                        cur.execute(APPLY_LOCK)
                        for statement in statements:
                            cur.execute(statement)
                            self.writes += 1
                    conn.commit()
                except BaseException:
                    if not conn.closed:  # a lost connection has nothing to roll back: keep its error
                        with suppress(psycopg2.Error):
                            conn.rollback()
                    raise

    def _statements(self, step: DatabaseStep, target: Target, *, preview: bool) -> list[tuple[str, Composable]]:
        """(database, statement) pairs. What lives in a catalog the whole server shares (roles and
        their memberships in pg_authid and pg_auth_members, database privileges in pg_database: "only
        one copy per cluster", PostgreSQL docs, System Catalogs) is changed on ``postgres``, so that
        database's lock orders every change to it; the rest in the app database, under its lock."""
        if isinstance(step, CreatePrincipal):
            return [(ADMIN_DATABASE, _create_principal(step.principal, step.binding, preview=preview))]
        if isinstance(step, DropPrincipal):
            if step.successor is None:
                raise PermanentError(f"{step.description}: no role to hand what it owns to")
            return self._retire(step.principal, step.successor, target.tls)
        if isinstance(step, RebindPrincipal):
            # The new principal takes the name, so the old one steps aside under a name of its own first.
            retired = retired_name(step.principal, step.old_binding)
            return [
                (ADMIN_DATABASE, _sql("ALTER ROLE {} RENAME TO {}", step.principal, retired)),
                (ADMIN_DATABASE, _create_principal(step.principal, step.binding, preview=preview)),
                (ADMIN_DATABASE, _sql("GRANT {} TO CURRENT_USER", step.principal)),
                *self._retire(retired, step.principal, target.tls, owner_of=step.principal),  # all to the new one
                (ADMIN_DATABASE, _sql("REVOKE {} FROM CURRENT_USER", step.principal)),
            ]
        revoke = isinstance(step, RevokePrivileges)
        assert isinstance(step, (GrantPrivileges, RevokePrivileges))
        shared = frozenset(g for g in step.grants if g.object_kind == "database")
        return [
            (database, statement)
            for database, grants in ((ADMIN_DATABASE, shared), (target.database, frozenset(step.grants) - shared))
            for statement in grant_statements(grants, step.principal, revoke=revoke)
        ]

    def _retire(
        self, role: str, successor: str, tls: TlsMode, *, owner_of: str | None = None
    ) -> list[tuple[str, Composable]]:
        """Hand what ``role`` owns to ``successor``, drop its privileges, then the role: in every
        database it has a stake in (``pg_shdepend``), since both commands act on the current database
        (and shared objects, whose privileges DROP OWNED revokes in whichever database runs it first,
        DROP OWNED reference page: ``postgres``, under the lock that orders shared-catalog changes).
        PostgreSQL asks the caller to be a member of both roles (``REASSIGN OWNED`` reference), so the
        admin takes the role first; from PostgreSQL 16 a CREATEROLE admin may grant only roles it holds
        WITH ADMIN OPTION, which it does for the roles it created (16 release notes, "Restrict the
        privileges of CREATEROLE roles"). The role's removal ends that membership. See
        docs/permissions.md, "Retiring a PostgreSQL principal that owns objects".
        ``owner_of``: the name the role had when it was observed (it is renamed before this runs).
        A rebind (``owner_of``) hands everything to the new principal. A retirement hands what the role
        owns in a database to that database's own steward, never to another database's owner: the owner
        of the managed scope where this reconcile read it, else the database's owner; ``successor`` (the
        dropped target's scope owner) in ``postgres``, which holds no app objects."""
        pairs: list[tuple[str, Composable]] = [(ADMIN_DATABASE, _sql("GRANT {} TO CURRENT_USER", role))]
        for database in self._stakes_of(owner_of or role, tls):
            heir = successor if owner_of or database == ADMIN_DATABASE else self._heir(database, successor)
            pairs.append((database, _sql("REASSIGN OWNED BY {} TO {}", role, heir)))
            pairs.append((database, _sql("DROP OWNED BY {}", role)))
        pairs.append((ADMIN_DATABASE, _sql("DROP ROLE {}", role)))
        return pairs

    def _heir(self, database: str, successor: str) -> str:
        return self._owners.get(database) or self._database_owners.get(database) or successor

    def _stakes_of(self, role: str, tls: TlsMode) -> list[str]:
        """Databases where the role owns objects or holds privileges, as observed (read once more when
        it was not), and ``postgres`` always: privileges on databases are shared objects, which DROP
        OWNED revokes from any database."""
        if role not in self._stakes:
            self._read_bindings(role, tls)
        return [ADMIN_DATABASE, *sorted(set(self._stakes.get(role, ())) - {ADMIN_DATABASE})]


def retired_name(principal: str, old_binding: str | None) -> str:
    """A name for a principal that is being replaced: unique per principal and binding, short enough
    for any PostgreSQL name (63 bytes)."""
    digest = hashlib.sha256(f"{principal}\n{old_binding}".encode()).hexdigest()[:16]
    return f"retired~{digest}"


def _sql(template: str, *roles: str) -> Composable:
    from psycopg2 import sql

    return sql.SQL(template).format(*(sql.Identifier(role) for role in roles))


def _create_principal(principal: str, object_id: str | None, *, preview: bool) -> Composable:
    from psycopg2 import sql

    if object_id is None:
        if not preview:
            raise PermanentError(f"principal {principal!r} cannot be created before its identity exists")
        object_id = BINDING_PLACEHOLDER
    return sql.SQL(AZURE_ONLY_CREATE_PRINCIPAL).format(sql.Literal(principal), sql.Literal(object_id))


def grant_statements(grants: frozenset[Grant], principal: str, *, revoke: bool) -> list[Composable]:
    """GRANT/REVOKE statements, grouped so objects with the same privileges share one statement."""
    from psycopg2 import sql

    verb, preposition = ("REVOKE", "FROM") if revoke else ("GRANT", "TO")
    role = sql.Identifier(principal)
    privileges_of: dict[tuple[str, tuple[str, ...]], set[str]] = defaultdict(set)
    for grant in grants:
        privileges_of[(grant.object_kind, grant.object_name)].add(grant.privilege)
    grouped: dict[tuple[str, tuple[str, ...]], list[tuple[str, ...]]] = defaultdict(list)
    for (kind, name), held in sorted(privileges_of.items()):
        grouped[(kind, _ordered(held))].append(name)
    statements: list[Composable] = []
    for (kind, privileges), names in sorted(grouped.items(), key=lambda item: _kind_rank(item[0][0])):
        keywords = sql.SQL(", ").join(sql.SQL(p) for p in privileges)
        if kind in DEFAULT_CLAUSE:
            for owner, schema in names:
                statements.append(
                    sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} {} {} ON {} {} {}").format(
                        sql.Identifier(owner),
                        sql.Identifier(schema),
                        sql.SQL(verb),
                        keywords,
                        sql.SQL(DEFAULT_CLAUSE[kind]),
                        sql.SQL(preposition),
                        role,
                    )
                )
        elif kind in ON_CLAUSE:
            objects = sql.SQL(", ").join(sql.Identifier(*name) for name in names)
            statements.append(
                sql.SQL("{} {} ON {} {} {} {}").format(
                    sql.SQL(verb), keywords, sql.SQL(ON_CLAUSE[kind]), objects, sql.SQL(preposition), role
                )
            )
        else:
            raise PermanentError(f"unknown PostgreSQL object kind {kind!r}")
    return statements


def _ordered(privileges: set[str]) -> tuple[str, ...]:
    unknown = privileges - set(PRIVILEGE_ORDER)
    if unknown:
        raise PermanentError(f"unexpected PostgreSQL privilege(s) {sorted(unknown)}")
    return tuple(p for p in PRIVILEGE_ORDER if p in privileges)


def _kind_rank(kind: str) -> int:
    """Database before schema before objects, so a grant never refers to what it cannot reach."""
    return ["database", "schema", "table", "sequence", "default_table", "default_sequence"].index(kind)


@contextmanager
def _database_errors(action: str) -> Iterator[None]:
    """psycopg2 errors into the core's tree; lost connections are transient, the rest permanent."""
    import psycopg2
    from psycopg2 import errors

    try:
        yield
    except errors.InsufficientPrivilege as exc:
        raise PermanentError(f"{action}: insufficient privilege: {_first_line(exc)}") from exc
    except psycopg2.OperationalError as exc:
        text = _first_line(exc)
        if "authentication failed" in text or "no pg_hba.conf entry" in text or "does not exist" in text:
            raise LoginRefused(f"{action}: login refused: {text}") from exc
        raise TransientError(f"{action}: {text}") from exc
    except psycopg2.InterfaceError as exc:  # the connection was closed under us
        raise TransientError(f"{action}: connection lost: {_first_line(exc)}") from exc
    except psycopg2.Error as exc:
        raise PermanentError(f"{action}: {_first_line(exc)}") from exc


def _first_line(exc: Any) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
