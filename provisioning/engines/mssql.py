"""Azure SQL Database, through pyodbc and Microsoft's ODBC driver.

Azure-only T-SQL is one seam: creating a contained user bound to an Entra identity
(``create_user``), and reading that binding back as the user's SID (in ``SNAPSHOT``). Grants,
revokes and the rest of the catalog read are plain T-SQL. Users are contained in the app's
database, so every statement runs there.

Verified facts this module relies on (Microsoft's own documentation):

- "Managed identities in Microsoft Entra for Azure SQL" (permissions section): in Azure SQL Database
  ``CREATE USER <name> WITH SID = <sid>, TYPE = { E | X }`` creates an Entra user "without
  validation", so the server needs no Microsoft Graph permission. ``CREATE USER (Transact-SQL)``,
  "create a contained database user from a Microsoft Entra principal without validation": for a
  service principal the SID is its client (application) id as ``varbinary(16)``, ``TYPE = E``.
- ``Constants (Transact-SQL)``: ``'6F9619FF-8B86-D011-B42D-00C04FC964FF'`` and
  ``0xff19966f868b11d0b42d00c04fc964ff`` are the same uniqueidentifier: the first three fields are
  little-endian, which is Python's ``uuid.UUID(...).bytes_le``.
- "Microsoft Entra logins and users with nonunique display names": ``FROM EXTERNAL PROVIDER WITH
  OBJECT_ID = '<object id>'`` makes the server resolve the object id in its tenant (Msg 37545 when it
  is not there), and the user's SID is still the application (client) id: the page reads it back
  as ``CAST(sid AS uniqueidentifier) AS ApplicationID``. So the observed binding is the client id in
  both forms. The same page asks that such a user's name start with the principal's display name.
"""

from __future__ import annotations

import re
import struct
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from provisioning.errors import LoginRefused, PermanentError, TransientError
from provisioning.models import DatabaseSnapshot, DatabaseState, Grant, ServerInfo, SqlBinding, Target, TlsMode
from provisioning.plan import (
    BINDING_PLACEHOLDER,
    CreatePrincipal,
    DatabaseStep,
    DropPrincipal,
    GrantPrivileges,
    RebindPrincipal,
)

PORT = 1433
DRIVER = "ODBC Driver 18 for SQL Server"
# msodbcsql.h: the pre-connect attribute that carries an Entra access token (UTF-16-LE, length-prefixed).
SQL_COPT_SS_ACCESS_TOKEN = 1256
LOGIN_TIMEOUT_SECONDS = 30
NAME_LIMIT = 128  # sysname: nvarchar(128), counted in UTF-16 code units
LOCK_PREFIX = "passwordless:"
LOCK_BUSY = 51000  # the error number the lock batch below throws

# Keywords cannot be quoted, so only these reach SQL text, in this order: the permissions listed in
# "DENY Database Permissions" and "DENY Schema Permissions" (Transact-SQL), plus schema-level UNMASK.
DATABASE_PRIVILEGES = (
    "CONNECT", "CREATE TABLE", "CREATE VIEW", "SELECT", "INSERT", "UPDATE", "DELETE", "ALTER", "EXECUTE",
    "REFERENCES", "VIEW DEFINITION", "VIEW DATABASE STATE", "SHOWPLAN", "TAKE OWNERSHIP", "CONTROL",
    "ADMINISTER DATABASE BULK OPERATIONS", "ALTER ANY APPLICATION ROLE", "ALTER ANY ASSEMBLY",
    "ALTER ANY ASYMMETRIC KEY", "ALTER ANY CERTIFICATE", "ALTER ANY COLUMN ENCRYPTION KEY",
    "ALTER ANY COLUMN MASTER KEY DEFINITION", "ALTER ANY CONTRACT", "ALTER ANY DATABASE AUDIT",
    "ALTER ANY DATABASE DDL TRIGGER", "ALTER ANY DATABASE EVENT NOTIFICATION", "ALTER ANY DATABASE EVENT SESSION",
    "ALTER ANY DATABASE SCOPED CONFIGURATION", "ALTER ANY DATASPACE", "ALTER ANY EXTERNAL DATA SOURCE",
    "ALTER ANY EXTERNAL FILE FORMAT", "ALTER ANY EXTERNAL LIBRARY", "ALTER ANY FULLTEXT CATALOG", "ALTER ANY MASK",
    "ALTER ANY MESSAGE TYPE", "ALTER ANY REMOTE SERVICE BINDING", "ALTER ANY ROLE", "ALTER ANY ROUTE",
    "ALTER ANY SECURITY POLICY", "ALTER ANY SCHEMA", "ALTER ANY SERVICE", "ALTER ANY SYMMETRIC KEY",
    "ALTER ANY USER", "AUTHENTICATE", "BACKUP DATABASE", "BACKUP LOG", "CHECKPOINT", "CONNECT REPLICATION",
    "CREATE AGGREGATE", "CREATE ASSEMBLY", "CREATE ASYMMETRIC KEY", "CREATE CERTIFICATE", "CREATE CONTRACT",
    "CREATE DATABASE", "CREATE DATABASE DDL EVENT NOTIFICATION", "CREATE DEFAULT", "CREATE FULLTEXT CATALOG",
    "CREATE FUNCTION", "CREATE MESSAGE TYPE", "CREATE PROCEDURE", "CREATE QUEUE", "CREATE REMOTE SERVICE BINDING",
    "CREATE ROLE", "CREATE ROUTE", "CREATE RULE", "CREATE SCHEMA", "CREATE SERVICE", "CREATE SYMMETRIC KEY",
    "CREATE SYNONYM", "CREATE TYPE", "CREATE XML SCHEMA COLLECTION", "EXECUTE ANY EXTERNAL SCRIPT",
    "KILL DATABASE CONNECTION", "SUBSCRIBE QUERY NOTIFICATIONS", "UNMASK", "VIEW ANY COLUMN ENCRYPTION KEY",
    "VIEW ANY MASTER KEY DEFINITION",
)  # fmt: skip
SCHEMA_PRIVILEGES = (
    "SELECT", "INSERT", "UPDATE", "DELETE", "ALTER", "EXECUTE", "REFERENCES", "VIEW DEFINITION",
    "VIEW CHANGE TRACKING", "CREATE SEQUENCE", "TAKE OWNERSHIP", "UNMASK", "CONTROL",
)  # fmt: skip
PRIVILEGES = {"database": DATABASE_PRIVILEGES, "schema": SCHEMA_PRIVILEGES, "role": ("MEMBER",)}
KIND_ORDER = ("database", "schema", "role")  # what a grant needs before what it reaches

# One round trip per database, for one principal or (NULL) every user of the database: each one's
# binding (the Azure-only read: an Entra principal's SID as uniqueidentifier is its client id; NULL for
# any other kind of user), its database- and schema-level grants (object-level ones are outside the
# managed scope) and the roles it is a member of. The SID is converted to text so the branches share
# column types (uniqueidentifier outranks nvarchar). Principals 0-4 are public, dbo, guest,
# INFORMATION_SCHEMA and sys.
SNAPSHOT = """\
DECLARE @principal sysname = ?;
WITH p AS (
    SELECT principal_id, name, type, sid
      FROM sys.database_principals
     WHERE name = @principal OR (@principal IS NULL AND principal_id > 4 AND is_fixed_role = 0)
)
SELECT N'principal', p.name, p.type,
       CASE WHEN p.type IN ('E', 'X') THEN CONVERT(nvarchar(36), CAST(p.sid AS uniqueidentifier)) END
  FROM p
UNION ALL
SELECT CASE d.class WHEN 0 THEN N'database' ELSE N'schema' END, p.name, s.name, d.permission_name
  FROM sys.database_permissions AS d
  JOIN p ON p.principal_id = d.grantee_principal_id
  LEFT JOIN sys.schemas AS s ON d.class = 3 AND s.schema_id = d.major_id
 WHERE d.class IN (0, 3) AND d.state IN ('G', 'W')
UNION ALL
SELECT N'role', p.name, r.name, N'MEMBER'
  FROM sys.database_role_members AS m
  JOIN p ON p.principal_id = m.member_principal_id
  JOIN sys.database_principals AS r ON r.principal_id = m.role_principal_id;"""
# Revokes and grants of one principal are serialized across function instances: sp_getapplock returns
# a negative number when the lock is not granted in time, which THROW turns into an error.
LOCK_PRINCIPAL = (
    "DECLARE @granted int; "
    "EXEC @granted = sp_getapplock @Resource = ?, @LockMode = 'Exclusive', "
    "@LockOwner = 'Transaction', @LockTimeout = 15000; "
    "IF @granted < 0 THROW 51000, 'another apply holds the lock on this principal', 1;"
)

# Native error numbers. Transient: Azure SQL's documented retryable errors (as in SqlClient's and
# Entity Framework's retry lists), deadlock and lock timeout, dropped connections, our lock.
TRANSIENT_ERRORS = frozenset(
    {20, 64, 233, 1205, 1222, 10053, 10054, 10060, 10928, 10929, 40197, 40501, 40613, 49918, 49919, 49920, LOCK_BUSY}
)
LOGIN_FAILED = 18456
PERMISSION_DENIED = frozenset({229, 262, 300, 15151, 15247})
_ERROR_NUMBER = re.compile(r"\((\d{2,6})\)")


class DbApiCursor(Protocol):
    def execute(self, sql: str, *params: Any) -> object: ...
    def fetchall(self) -> Sequence[Any]: ...
    def close(self) -> None: ...


class DbApiConnection(Protocol):
    """The part of a PEP 249 connection the session uses; autocommit is off (pyodbc's default)."""

    def cursor(self) -> DbApiCursor: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


Connect = Callable[[str], DbApiConnection]  # ODBC connection string -> open connection


def odbc_connect(token: Callable[[], str]) -> Connect:
    """The production factory: pyodbc, the token as a pre-connect attribute, never in the string."""

    def connect(connection_string: str) -> DbApiConnection:
        try:
            import pyodbc
        except ImportError as exc:
            raise PermanentError(
                f"pyodbc cannot load ({exc}): the host needs unixODBC and Microsoft's {DRIVER}"
            ) from exc
        attributes: dict[int, int | bytes | bytearray | str | Sequence[str]] = {
            SQL_COPT_SS_ACCESS_TOKEN: access_token_attribute(token())
        }
        connection: DbApiConnection = pyodbc.connect(
            connection_string, attrs_before=attributes, autocommit=False, timeout=LOGIN_TIMEOUT_SECONDS
        )
        return connection

    return connect


def access_token_attribute(token: str) -> bytes:
    """The driver wants the token as UTF-16-LE bytes behind a little-endian 4-byte length."""
    raw = token.encode("utf-16-le")
    return struct.pack(f"<I{len(raw)}s", len(raw), raw)


def connection_string(fqdn: str, database: str, tls: TlsMode) -> str:
    """No UID, PWD or Authentication: the token attribute is the credential."""
    encrypt = "yes" if tls is TlsMode.REQUIRE else "no"
    return (
        f"Driver={{{DRIVER}}};Server={_odbc_value('tcp:' + fqdn + ',' + str(PORT))};"
        f"Database={_odbc_value(database)};Encrypt={encrypt}"
    )


def _odbc_value(value: str) -> str:
    """ODBC connection-string values with separators go in braces, with '}' doubled."""
    if re.search(r"[;{}=\s]", value):
        return "{" + value.replace("}", "}}") + "}"
    return value


class SqlSession:
    """Connections to one logical server as its Entra administrator, one per database, reused.

    ``connect`` opens a connection from an ODBC connection string: ``odbc_connect`` in production,
    any DB-API connection with the same surface elsewhere.
    """

    def __init__(self, server: ServerInfo, login: str, connect: Connect) -> None:
        self._server = server
        self._login = login
        self._connect_with = connect
        self._connections: dict[tuple[str, TlsMode], DbApiConnection] = {}
        self.catalog_queries: dict[str, int] = defaultdict(int)
        self.writes = 0

    def _connect(self, database: str, tls: TlsMode) -> DbApiConnection:
        key = (database, tls)
        if key not in self._connections:
            with _database_errors(f"connect to {self._server.fqdn}/{database} as {self._login!r}"):
                self._connections[key] = self._connect_with(connection_string(self._server.fqdn, database, tls))
        return self._connections[key]

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()

    def observe(self, target: Target, principal: str) -> DatabaseState:
        """One catalog query: the principal's binding, its grants in scope, its role memberships."""
        return self._read(target, principal).state_of(principal)

    def snapshot(self, target: Target) -> DatabaseSnapshot:
        """The same for every user of the target's database, still one query."""
        return self._read(target, None)

    def _read(self, target: Target, principal: str | None) -> DatabaseSnapshot:
        conn = self._connect(target.database, target.tls)
        with _database_errors(f"read principals and their grants in {target.database}"):
            cursor = conn.cursor()
            try:
                cursor.execute(SNAPSHOT, principal)
                rows = cursor.fetchall()
            finally:
                cursor.close()
            conn.rollback()  # end the read transaction
        self.catalog_queries[target.database] += 1
        schemas = {schema.lower(): schema for schema in target.schemas}  # Azure SQL's default collation ignores case
        principals: dict[str, str | None] = {}
        grants: dict[str, set[Grant]] = defaultdict(set)
        for kind, found, name, value in rows:
            holder = principal or str(found)  # one principal's rows are its own, whatever their case
            if kind == "principal":
                principals[holder] = str(value).lower() if value else None
            elif kind == "database":
                grants[holder].add(Grant("database", (target.database,), str(value)))
            elif kind == "role":
                grants[holder].add(Grant("role", (str(name),), str(value)))
            elif str(name).lower() in schemas:
                grants[holder].add(Grant("schema", (schemas[str(name).lower()],), str(value)))
        return DatabaseSnapshot(
            principals=principals, grants={name: frozenset(held) for name, held in grants.items()}, objects={}
        )

    def render(self, step: DatabaseStep, target: Target) -> tuple[str, ...]:
        """The exact T-SQL ``apply`` runs; an id not known yet shows as a placeholder."""
        return tuple(step_statements(step, target, preview=True))

    def apply(self, step: DatabaseStep, target: Target) -> None:
        """One transaction per step, under an application lock keyed by the principal."""
        statements = step_statements(step, target, preview=False)
        conn = self._connect(target.database, target.tls)
        with _database_errors(f"{step.description} in {target.database}"):
            cursor = conn.cursor()
            try:
                cursor.execute(LOCK_PRINCIPAL, LOCK_PREFIX + step.principal)
                for statement in statements:
                    cursor.execute(statement)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cursor.close()
        self.writes += len(statements)


def step_statements(step: DatabaseStep, target: Target, *, preview: bool) -> list[str]:
    """Statements for one plan step. DROP USER takes the user's grants and memberships with it."""
    if isinstance(step, CreatePrincipal | RebindPrincipal):
        # The SID form is made from the client id (the binding); the other form from the object id.
        source = step.binding if target.sql_binding is SqlBinding.SID else step.object_id
        create = create_user(step.principal, source, target.sql_binding, preview=preview)
        return [drop_user(step.principal), create] if isinstance(step, RebindPrincipal) else [create]
    if isinstance(step, DropPrincipal):
        return [drop_user(step.principal)]
    if isinstance(step, GrantPrivileges):
        return grant_statements(step.grants, step.principal, revoke=False)
    return grant_statements(step.grants, step.principal, revoke=True)


def create_user(principal: str, binding: str | None, form: SqlBinding, *, preview: bool) -> str:
    """The Azure-only seam: a contained user bound to the client id (SID) or the object id."""
    name = quote_identifier(principal)
    if binding is None:
        if not preview:
            raise PermanentError(f"user {principal!r} cannot be created before its identity exists")
        value = BINDING_PLACEHOLDER
    elif form is SqlBinding.SID:
        value = sid_literal(binding)
    else:
        value = quote_literal(str(_guid(binding)))
    if form is SqlBinding.SID:
        return f"CREATE USER {name} WITH SID = {value}, TYPE = E"
    return f"CREATE USER {name} FROM EXTERNAL PROVIDER WITH OBJECT_ID = {value}"


def drop_user(principal: str) -> str:
    return "DROP USER " + quote_identifier(principal)


def grant_statements(grants: Iterable[Grant], principal: str, *, revoke: bool) -> list[str]:
    """One statement per securable: the database, each schema, each role membership."""
    verb, preposition = ("REVOKE", "FROM") if revoke else ("GRANT", "TO")
    grantee = quote_identifier(principal)
    privileges_of: dict[tuple[str, tuple[str, ...]], set[str]] = defaultdict(set)
    for grant in grants:
        if grant.object_kind not in PRIVILEGES:
            raise PermanentError(f"unknown Azure SQL securable kind {grant.object_kind!r}")
        privileges_of[(grant.object_kind, grant.object_name)].add(grant.privilege)
    statements = []
    for (kind, name), held in sorted(
        privileges_of.items(), key=lambda item: (KIND_ORDER.index(item[0][0]), item[0][1])
    ):
        keywords = ", ".join(_allowed(kind, held))
        if kind == "database":
            statements.append(f"{verb} {keywords} {preposition} {grantee}")
        elif kind == "schema":
            statements.append(f"{verb} {keywords} ON SCHEMA::{quote_identifier(name[0])} {preposition} {grantee}")
        else:
            action = "DROP" if revoke else "ADD"
            statements.append(f"ALTER ROLE {quote_identifier(name[0])} {action} MEMBER {grantee}")
    return statements


def _allowed(kind: str, privileges: set[str]) -> list[str]:
    unknown = privileges - set(PRIVILEGES[kind])
    if unknown:
        raise PermanentError(f"unexpected Azure SQL {kind} privilege(s) {sorted(unknown)}")
    return [p for p in PRIVILEGES[kind] if p in privileges]


def quote_identifier(name: str) -> str:
    """``[name]`` with ``]`` doubled, as QUOTENAME does; sysname holds at most 128 UTF-16 units."""
    units = len(name.encode("utf-16-le")) // 2
    if not name or units > NAME_LIMIT:
        raise PermanentError(f"{name!r} is not a valid T-SQL identifier: 1 to {NAME_LIMIT} characters")
    return "[" + name.replace("]", "]]") + "]"


def quote_literal(value: str) -> str:
    """A string literal with ``'`` doubled."""
    return "'" + value.replace("'", "''") + "'"


def sid_literal(client_id: str) -> str:
    """The SID of a service principal's user: its client id as uniqueidentifier bytes (``bytes_le``)."""
    return "0x" + _guid(client_id).bytes_le.hex().upper()


def _guid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise PermanentError(f"{value!r} is not an Entra id (a GUID)") from exc


@contextmanager
def _database_errors(action: str) -> Iterator[None]:
    """DB-API errors into the core's tree: lost connections and throttling are transient.

    pyodbc cannot be imported where unixODBC is missing, so errors are recognised by the PEP 249
    class names every driver uses; the native error number is the one in parentheses in the text.
    """
    try:
        yield
    except Exception as exc:
        names = {cls.__name__ for cls in type(exc).__mro__}
        if not names & {"InterfaceError", "DatabaseError"}:
            raise
        text = _first_line(exc)
        state = str(exc.args[0]) if exc.args else ""
        numbers = {int(n) for n in _ERROR_NUMBER.findall(text)}
        if LOGIN_FAILED in numbers or state == "28000":
            raise LoginRefused(f"{action}: login refused: {text}") from exc
        if numbers & PERMISSION_DENIED:
            raise PermanentError(f"{action}: permission denied: {text}") from exc
        if numbers & TRANSIENT_ERRORS or "OperationalError" in names or state.startswith(("08", "HYT")):
            raise TransientError(f"{action}: {text}") from exc
        raise PermanentError(f"{action}: {text}") from exc


def _first_line(exc: Exception) -> str:
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    return (message.strip().splitlines() or [type(exc).__name__])[0]
