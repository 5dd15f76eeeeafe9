"""Azure Database for MySQL flexible server, through PyMySQL.

Azure-only SQL is confined to the ``AZURE_ONLY_*`` statements: creating a user bound to an
identity's client id, and reading that binding back from ``mysql.user``. Everything else is plain
MySQL: the principal's privileges on ``db``.*, read from ``information_schema.SCHEMA_PRIVILEGES``
and changed with GRANT and REVOKE.

MySQL DDL is not transactional: each statement commits on its own. The planner puts grants before
revokes, so an apply cut short leaves the old and new privileges together, never less than the new
profile needs; the next reconcile revokes the rest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from provisioning.errors import LoginRefused, PermanentError, TransientError
from provisioning.models import DatabaseSnapshot, DatabaseState, Grant, PrincipalState, ServerInfo, Target, TlsMode
from provisioning.plan import (
    BINDING_PLACEHOLDER,
    CreatePrincipal,
    DatabaseStep,
    DropPrincipal,
    GrantPrivileges,
    RebindPrincipal,
    RevokePrivileges,
)

PORT = 3306
HOST = "%"  # an Entra user is 'name'@'%': the token identifies it, not the client's address
AAD_PLUGIN = "aad_auth"
# ``authentication_string`` of a user made by ``CREATE AADUSER 'n' IDENTIFIED BY '<client id>'``:
# ``AADSP:<client id>:upn:n`` on flexible server, ``AADApp:`` on users migrated from single server.
# ``AADUser:``/``AADGroup:`` carry a person's or group's object id: not an app's binding.
CLIENT_ID_KINDS = frozenset({"AADSP", "AADApp"})

# Without the SET, Azure looks the id up as an object id in the tenant and refuses a client id.
AZURE_ONLY_CREATE_PRINCIPAL = ("SET aad_auth_validate_oids_in_tenant = OFF", "CREATE AADUSER %s IDENTIFIED BY %s")
AZURE_ONLY_READ_BINDING = "SELECT User, plugin, authentication_string FROM mysql.user WHERE User = %s AND Host = '%%'"
# One round trip per database; GRANTEE is 'user'@'host' as the server spells it (quotes not escaped).
SNAPSHOT = (
    "SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES "
    "WHERE GRANTEE = %s AND TABLE_SCHEMA = %s"
)
# The audit's reads: every user of host '%', every grantee of the database.
AZURE_ONLY_READ_BINDINGS = "SELECT User, plugin, authentication_string FROM mysql.user WHERE Host = '%'"
SNAPSHOT_ALL = (
    "SELECT GRANTEE, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES WHERE TABLE_SCHEMA = %s"
)
USERS_TABLE = "mysql.user"  # how catalog query counts name the server-wide user list
GRANT_OPTION = "GRANT OPTION"
# Keywords cannot be bound, so only these ever reach SQL text, in this order: every database-level
# privilege MySQL 8 and MariaDB report, so that excess ones found in scope can be revoked too.
PRIVILEGE_ORDER = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "REFERENCES",
    "INDEX",
    "ALTER",
    "CREATE TEMPORARY TABLES",
    "LOCK TABLES",
    "EXECUTE",
    "CREATE VIEW",
    "SHOW VIEW",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "EVENT",
    "TRIGGER",
    "DELETE HISTORY",
    "SHOW CREATE ROUTINE",
    GRANT_OPTION,
)
# Errors (client and server numbers) worth a retry: connection lost or refused, server busy.
TRANSIENT_ERRORS = frozenset({1040, 1053, 1205, 1213, 2003, 2006, 2013, 2055})
LOGIN_ERRORS = frozenset({1044, 1045, 1049, 1698})

Statement = tuple[str, tuple[str, ...] | None]  # (template, bound values); None: sent as written


class MysqlSession:
    """Admin connections to one flexible server; the token is the password, fetched per connection."""

    def __init__(self, server: ServerInfo, login: str, token: Callable[[], str]) -> None:
        self._server = server
        self._login = login
        self._token = token
        self._connections: dict[tuple[str, TlsMode], Any] = {}
        self.catalog_queries: dict[str, int] = defaultdict(int)
        self.writes = 0
        self._all_users: list[Any] | None = None

    # -- connections -------------------------------------------------------------------------
    def _connect(self, database: str, tls: TlsMode) -> Any:
        key = (database, tls)
        existing = self._connections.get(key)
        if existing is not None and existing.open:
            return existing
        import pymysql

        port = self._server.port or PORT
        with _database_errors(f"connect to {self._server.fqdn}:{port}/{database} as {self._login!r}"):
            conn = pymysql.connect(
                host=self._server.fqdn,
                port=port,
                user=self._login,
                password=self._token(),  # sent in clear text when Azure asks, hence TLS
                database=database,
                charset="utf8mb4",
                autocommit=True,  # every read sees the latest grants; DDL commits regardless
                connect_timeout=10,
                read_timeout=60,
                write_timeout=60,
                program_name="passwordless-provisioner",
                **_tls_options(tls),
            )
        self._connections[key] = conn
        return conn

    def close(self) -> None:
        for conn in self._connections.values():
            if conn.open:
                conn.close()
        self._connections.clear()

    # -- observe -----------------------------------------------------------------------------
    def observe(self, target: Target, principal: str) -> DatabaseState:
        conn = self._connect(target.database, target.tls)
        binding = self._read_binding(conn, target.database, principal)
        with _database_errors(f"read privileges in {target.database}"), conn.cursor() as cur:
            cur.execute(SNAPSHOT, (_grantee(principal), _schema_pattern(target.database)))
            rows = cur.fetchall()
        self.catalog_queries[target.database] += 1
        grants = {Grant("database", (target.database,), str(privilege)) for privilege, _ in rows}
        if any(grantable == "YES" for _, grantable in rows):
            grants.add(Grant("database", (target.database,), GRANT_OPTION))
        return DatabaseState(principal=binding, grants=frozenset(grants))

    def _read_binding(self, conn: Any, database: str, principal: str) -> PrincipalState | None:
        with _database_errors("read the principal's Entra binding"), conn.cursor() as cur:
            cur.execute(AZURE_ONLY_READ_BINDING, (principal,))
            row = cur.fetchone()
        self.catalog_queries[database] += 1
        if row is None:
            return None
        name, plugin, authentication = row
        return PrincipalState(name=str(name), binding=bound_client_id(plugin, authentication))

    def snapshot(self, target: Target) -> DatabaseSnapshot:
        """Every ``'name'@'%'`` user and its privileges on ``db``.*: two queries whatever their number."""
        conn = self._connect(target.database, target.tls)
        with _database_errors(f"read every principal of {target.database}"), conn.cursor() as cur:
            if self._all_users is None:  # users are server-wide: read once however many databases
                cur.execute(AZURE_ONLY_READ_BINDINGS)
                self._all_users = list(cur.fetchall())
                self.catalog_queries[USERS_TABLE] += 1
            cur.execute(SNAPSHOT_ALL, (_schema_pattern(target.database),))
            rows = cur.fetchall()
        self.catalog_queries[target.database] += 1
        users = self._all_users
        held: dict[str, set[Grant]] = defaultdict(set)
        for grantee, privilege, grantable in rows:
            name = _user_of(str(grantee))
            if name is None:
                continue
            held[name].add(Grant("database", (target.database,), str(privilege)))
            if grantable == "YES":
                held[name].add(Grant("database", (target.database,), GRANT_OPTION))
        return DatabaseSnapshot(
            principals={str(name): bound_client_id(plugin, authentication) for name, plugin, authentication in users},
            grants={name: frozenset(grants) for name, grants in held.items()},
            objects={},
        )

    # -- render and apply --------------------------------------------------------------------
    def render(self, step: DatabaseStep, target: Target) -> tuple[str, ...]:
        """The statements as sent; a client id not known yet shows as a placeholder literal."""
        conn = self._connect(target.database, target.tls)
        with _database_errors(f"render {step.description}"), conn.cursor() as cur:
            return tuple(cur.mogrify(query, values) for query, values in _statements(step, target, preview=True))

    def apply(self, step: DatabaseStep, target: Target) -> None:
        """Run one step's statements in order; each commits on its own (MySQL DDL)."""
        conn = self._connect(target.database, target.tls)
        with _database_errors(f"{step.description} in {target.database}"), conn.cursor() as cur:
            for query, values in _statements(step, target, preview=False):
                cur.execute(query, values)
                self.writes += 1


def _statements(step: DatabaseStep, target: Target, *, preview: bool) -> list[Statement]:
    """Users are server-wide: dropping one takes its grants everywhere; the planner grants afresh."""
    user = (step.principal, HOST)
    if isinstance(step, CreatePrincipal):
        return _create_principal(step.principal, step.binding, preview=preview)
    if isinstance(step, RebindPrincipal):
        return [("DROP USER %s@%s", user), *_create_principal(step.principal, step.binding, preview=preview)]
    if isinstance(step, DropPrincipal):
        return [("DROP USER %s@%s", user)]
    assert isinstance(step, (GrantPrivileges, RevokePrivileges))
    return grant_statements(step.grants, step.principal, revoke=isinstance(step, RevokePrivileges))


def _create_principal(principal: str, client_id: str | None, *, preview: bool) -> list[Statement]:
    if client_id is None:
        if not preview:
            raise PermanentError(f"principal {principal!r} cannot be created before its identity exists")
        client_id = BINDING_PLACEHOLDER
    allow_client_ids, create = AZURE_ONLY_CREATE_PRINCIPAL
    return [(allow_client_ids, None), (create, (principal, client_id))]


def grant_statements(grants: tuple[Grant, ...], principal: str, *, revoke: bool) -> list[Statement]:
    """One GRANT or REVOKE per database, privileges in a fixed order, the user as bound literals."""
    verb, preposition = ("REVOKE ", " FROM %s@%s") if revoke else ("GRANT ", " TO %s@%s")
    privileges_of: dict[str, set[str]] = defaultdict(set)
    for grant in grants:
        if grant.object_kind != "database":
            raise PermanentError(f"unknown MySQL object kind {grant.object_kind!r}")
        privileges_of[grant.object_name[0]].add(grant.privilege)
    statements: list[Statement] = []
    for database, held in sorted(privileges_of.items()):
        keywords = ", ".join(_ordered(held))
        on = " ON " + _in_template(_identifier(_schema_pattern(database))) + ".*"
        statements.append((verb + keywords + on + preposition, (principal, HOST)))
    return statements


def _ordered(privileges: set[str]) -> tuple[str, ...]:
    unknown = privileges - set(PRIVILEGE_ORDER)
    if unknown:
        raise PermanentError(f"unexpected MySQL privilege(s) {sorted(unknown)}")
    return tuple(p for p in PRIVILEGE_ORDER if p in privileges)


def _identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _in_template(text: str) -> str:
    """Text placed in a template that also has bound values: PyMySQL fills the template with Python's
    ``%`` operator, so a literal ``%`` (legal in a database name) is written ``%%``."""
    return text.replace("%", "%%")


def _schema_pattern(database: str) -> str:
    """The database as a GRANT pattern: ``_`` and ``%`` are wildcards there, so they are escaped
    (``orders_db``.* would also cover ``ordersXdb``); the catalog stores the pattern as written."""
    return database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def _grantee(principal: str) -> str:
    return "'" + principal + "'@'" + HOST + "'"


def bound_client_id(plugin: Any, authentication: Any) -> str | None:
    """The client id an Entra user is bound to; None for a user that is not an app's."""
    if plugin != AAD_PLUGIN or not isinstance(authentication, str):
        return None
    kind, _, rest = authentication.partition(":")
    client_id = rest.split(":", 1)[0]
    return client_id.lower() if kind in CLIENT_ID_KINDS and client_id else None


def _tls_options(tls: TlsMode) -> dict[str, Any]:
    """An SSLContext makes PyMySQL refuse a server without TLS, instead of carrying on in clear text."""
    if tls is TlsMode.DISABLE:
        return {"ssl_disabled": True}
    import ssl

    return {"ssl": ssl.create_default_context()}


@contextmanager
def _database_errors(action: str) -> Iterator[None]:
    """PyMySQL errors into the core's tree; lost connections and busy servers are transient."""
    import pymysql

    try:
        yield
    except pymysql.Error as exc:
        code, text = _code_and_text(exc)
        if code in TRANSIENT_ERRORS:
            raise TransientError(f"{action}: {text}") from exc
        if code in LOGIN_ERRORS:
            raise LoginRefused(f"{action}: login refused: {text}") from exc
        raise PermanentError(f"{action}: {text}") from exc


def _code_and_text(exc: Exception) -> tuple[int | None, str]:
    """(error number, first line of the server's message); never the connection's arguments."""
    args = exc.args
    code = args[0] if args and isinstance(args[0], int) else None
    text = str(args[1]) if len(args) > 1 else (str(args[0]) if args else type(exc).__name__)
    return code, (text.strip().splitlines() or [type(exc).__name__])[0]


def _user_of(grantee: str) -> str | None:
    """``'name'@'%'`` -> name, as information_schema spells grantees (inner quotes not escaped)."""
    suffix = "'@'%'"
    if grantee.startswith("'") and grantee.endswith(suffix):
        return grantee[1 : -len(suffix)]
    return None
