"""A recording stand-in for Azure SQL Database behind a DB-API connection (there is no SQL Server here).

It understands exactly the T-SQL the engine renders (parsed with a few regular expressions) and
keeps a model of each database's principals, database- and schema-level grants and role
memberships, so its catalog answers change as statements run, as a server's would:

- ``CREATE USER ... WITH SID = 0x.., TYPE = E`` stores the SID as given; ``FROM EXTERNAL PROVIDER
  WITH OBJECT_ID`` resolves the object id in a directory and stores the application (client) id as
  the SID, as Azure documents; an object id the directory does not know fails with Msg 37545.
- A new user holds CONNECT, as on SQL Server; DROP USER takes its grants and memberships with it.
- Writes happen in a transaction: ``commit`` publishes them, ``rollback`` discards them.

Any other statement fails with a syntax error, so the engine cannot run SQL the fake ignores.
Errors carry pyodbc's shape: ``args == (sqlstate, message)`` with the native number in parentheses.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from provisioning.engines.mssql import LOCK_PRINCIPAL, SNAPSHOT


class Error(Exception):
    """As ``pyodbc.Error``: the PEP 249 hierarchy, ``args == (sqlstate, message)``."""


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class OperationalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


_PREFIX = "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]"
_NAME = r"\[((?:[^\]]|\]\])*)\]"
_PRIVILEGES = r"([A-Z]+(?: [A-Z]+)*(?:, [A-Z]+(?: [A-Z]+)*)*)"
_CREATE_WITH_SID = re.compile(rf"CREATE USER {_NAME} WITH SID = 0x([0-9A-F]{{32}}), TYPE = ([EX])")
_CREATE_WITH_OBJECT_ID = re.compile(rf"CREATE USER {_NAME} FROM EXTERNAL PROVIDER WITH OBJECT_ID = '([0-9a-f-]{{36}})'")
_DROP = re.compile(rf"DROP USER {_NAME}")
_ON_SCHEMA = re.compile(rf"(GRANT|REVOKE) {_PRIVILEGES} ON SCHEMA::{_NAME} (TO|FROM) {_NAME}")
_ON_DATABASE = re.compile(rf"(GRANT|REVOKE) {_PRIVILEGES} (TO|FROM) {_NAME}")
_ROLE = re.compile(rf"ALTER ROLE {_NAME} (ADD|DROP) MEMBER {_NAME}")
_DATABASE = re.compile(r"(?:^|;)Database=(\{(?:[^}]|\}\})*\}|[^;]*)")
FIXED_ROLES = ("db_owner", "db_datareader", "db_datawriter", "db_ddladmin", "db_securityadmin")


def _unquote(name: str) -> str:
    return name.replace("]]", "]")


def error(kind: type[Error], number: int, message: str, state: str = "42000") -> Error:
    return kind(state, f"[{state}] {_PREFIX}{message} ({number}) (SQLExecDirectW)")


@dataclass
class User:
    type: str  # E (Entra user or application), X (Entra group), S (SQL user)...
    sid: str  # as CAST(sid AS uniqueidentifier) shows it


@dataclass
class DatabaseModel:
    schemas: set[str] = field(default_factory=lambda: {"dbo"})
    users: dict[str, User] = field(default_factory=dict)
    grants: dict[str, set[tuple[str | None, str]]] = field(default_factory=dict)  # user -> {(schema or None, perm)}
    members: dict[str, set[str]] = field(default_factory=dict)  # user -> roles


@dataclass(frozen=True)
class Executed:
    database: str
    sql: str
    params: tuple[Any, ...]


class FakeSqlServer:
    """One logical server: its databases, the statements run against them, the connection strings used.

    ``directory`` maps an Entra object id to its application (client) id, or None when unknown.
    """

    def __init__(self, databases: Iterable[str], directory: Callable[[str], str | None] = lambda _: None) -> None:
        self.databases = {name.lower(): DatabaseModel() for name in databases}
        self.directory = directory
        self.executed: list[Executed] = []
        self.connection_strings: list[str] = []
        self.commits = 0
        self.rollbacks = 0
        self.fail_on: tuple[str, Error] | None = None  # the next statement containing the text raises

    def connect(self, connection_string: str) -> FakeConnection:
        """The session's connection factory."""
        self.connection_strings.append(connection_string)
        match = _DATABASE.search(connection_string)
        name = match.group(1) if match else ""
        if name.startswith("{"):
            name = name[1:-1].replace("}}", "}")
        if name.lower() not in self.databases:
            raise error(ProgrammingError, 4060, f'Cannot open database "{name}" requested by the login.')
        return FakeConnection(self, name.lower())

    def writes(self) -> list[str]:
        """Statements other than catalog reads and locks, in order."""
        return [e.sql for e in self.executed if e.sql not in (SNAPSHOT, LOCK_PRINCIPAL)]

    def clear(self) -> None:
        self.executed.clear()

    def run_as_admin(self, database: str, sql: str) -> None:
        """A change made by someone else (a DBA), committed at once and not recorded."""
        recorded, connections, commits = len(self.executed), len(self.connection_strings), self.commits
        conn = self.connect(f"Database={database}")
        conn.cursor().execute(sql)
        conn.commit()
        del self.executed[recorded:], self.connection_strings[connections:]
        self.commits = commits


class FakeConnection:
    def __init__(self, server: FakeSqlServer, database: str) -> None:
        self._server = server
        self._database = database
        self._working: DatabaseModel | None = None  # the open transaction's view
        self.closed = False

    @property
    def model(self) -> DatabaseModel:
        return self._working or self._server.databases[self._database]

    def cursor(self) -> FakeCursor:
        if self.closed:
            raise error(InterfaceError, 0, "Attempt to use a closed connection.", state="08003")
        return FakeCursor(self)

    def commit(self) -> None:
        if self._working is not None:
            self._server.databases[self._database] = self._working
            self._working = None
        self._server.commits += 1

    def rollback(self) -> None:
        self._working = None
        self._server.rollbacks += 1

    def close(self) -> None:
        self.closed = True

    def execute(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        self._server.executed.append(Executed(self._database, sql, params))
        failure = self._server.fail_on
        if failure is not None and failure[0] in sql:
            self._server.fail_on = None
            raise failure[1]
        if sql == SNAPSHOT:
            return self._snapshot(params[0])
        if sql == LOCK_PRINCIPAL:
            return []
        if self._working is None:
            self._working = copy.deepcopy(self._server.databases[self._database])
        self._write(sql)
        return []

    def _snapshot(self, principal: str | None) -> list[tuple[Any, ...]]:
        """The engine's catalog read: one principal by name (any case), or every user when None."""
        model = self.model
        rows: list[tuple[Any, ...]] = []
        for key, user in sorted(model.users.items()):
            if principal is not None and key != principal.lower():
                continue
            sid = user.sid.upper() if user.type in ("E", "X") else None  # SQL Server shows uniqueidentifiers upper-case
            rows.append(("principal", key, user.type, sid))
            for schema, permission in sorted(model.grants.get(key, set()), key=str):
                rows.append(
                    ("database", key, None, permission) if schema is None else ("schema", key, schema, permission)
                )
            rows += [("role", key, role, "MEMBER") for role in sorted(model.members.get(key, set()))]
        return rows

    def _write(self, sql: str) -> None:
        model = self.model
        if match := _CREATE_WITH_SID.fullmatch(sql):
            sid = str(uuid.UUID(bytes_le=bytes.fromhex(match.group(2))))
            self._create(model, _unquote(match.group(1)), User(match.group(3), sid))
        elif match := _CREATE_WITH_OBJECT_ID.fullmatch(sql):
            client_id = self._server.directory(match.group(2))
            if client_id is None:
                raise error(
                    ProgrammingError,
                    37545,
                    f"'{match.group(2)}' is not a valid object id or you do not have permission.",
                )
            self._create(model, _unquote(match.group(1)), User("E", client_id))
        elif match := _DROP.fullmatch(sql):
            key = self._existing(model, _unquote(match.group(1)))
            del model.users[key]
            model.grants.pop(key, None)
            model.members.pop(key, None)
        elif match := _ON_SCHEMA.fullmatch(sql):
            verb, privileges, schema, _, name = match.groups()
            if _unquote(schema) not in model.schemas:
                raise error(ProgrammingError, 15151, f"Cannot find the schema '{_unquote(schema)}'.")
            self._permit(model, verb, privileges, _unquote(schema), _unquote(name))
        elif match := _ON_DATABASE.fullmatch(sql):
            verb, privileges, _, name = match.groups()
            self._permit(model, verb, privileges, None, _unquote(name))
        elif match := _ROLE.fullmatch(sql):
            role, action, name = _unquote(match.group(1)), match.group(2), _unquote(match.group(3))
            if role not in FIXED_ROLES:
                raise error(ProgrammingError, 15151, f"Cannot alter the role '{role}', because it does not exist.")
            roles = model.members.setdefault(self._existing(model, name), set())
            (roles.add if action == "ADD" else roles.discard)(role)
        else:
            raise error(ProgrammingError, 102, f"Incorrect syntax near '{sql[:40]}'.")

    @staticmethod
    def _create(model: DatabaseModel, name: str, user: User) -> None:
        if name.lower() in {n.lower() for n in model.users}:
            raise error(
                ProgrammingError, 15023, f"User, group, or role '{name}' already exists in the current database."
            )
        model.users[name.lower()] = user
        model.grants[name.lower()] = {(None, "CONNECT")}

    @staticmethod
    def _existing(model: DatabaseModel, name: str) -> str:
        if name.lower() not in model.users:
            raise error(ProgrammingError, 15151, f"Cannot find the user '{name}', because it does not exist.")
        return name.lower()

    def _permit(self, model: DatabaseModel, verb: str, privileges: str, schema: str | None, name: str) -> None:
        held = model.grants.setdefault(self._existing(model, name), set())
        for privilege in privileges.split(", "):
            (held.add if verb == "GRANT" else held.discard)((schema, privilege))


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, *params: Any) -> FakeCursor:
        self._rows = self._connection.execute(sql, params)
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def close(self) -> None:
        self._rows = []
