"""The database servers as the model sees them: read from each server's own catalog (never through
product code), changed by hand the way a DBA would, and logged into as the app's principal.

PostgreSQL and MariaDB are the real local servers; Azure SQL is the recording DB-API connection of
``tests/sql_fake.py`` (there is no SQL Server here), whose model of principals and grants is read
directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any, Protocol

import psycopg2
import pymysql
from psycopg2 import errors, sql

from emulator.mysql_local import RootLogin, root_connection
from emulator.postgres_local import owner_role
from tests.model.expected import PROFILES, Grant, mysql_grants, postgres_grants, sql_grants
from tests.sql_fake import FakeSqlServer

OWNED_TABLE = "model_items"  # made by each database's owner at set-up: inside every managed scope


class Server(Protocol):
    """One database server holding the model's target databases."""

    engine: str
    principal_per_database: bool  # SQL users live in a database; PostgreSQL roles and MySQL users on the server
    tables_by_app: bool  # an app can log in and create tables here

    def expected(self, profile: str, database: str) -> frozenset[Grant]: ...
    def grants(self, principal: str, database: str) -> frozenset[Grant]: ...
    def binding(self, principal: str, database: str) -> str | None: ...
    def prove_access(self, principal: str, database: str, profile: str) -> None: ...
    def create_table(self, principal: str, database: str, table: str) -> None: ...
    def table_usable(self, principal: str, database: str, table: str) -> bool: ...
    def table_exists(self, database: str, table: str) -> bool: ...
    def revoke_by_hand(self, principal: str, database: str) -> None: ...
    def grant_extra_by_hand(self, principal: str, database: str) -> None: ...
    def drop_principal_by_hand(self, principal: str, database: str) -> None: ...


class Refused(AssertionError):
    pass


# -- PostgreSQL ---------------------------------------------------------------------------------
_PG_GRANTS = """
WITH r AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(p)s)
SELECT 'database', d.datname::text, a.privilege_type
  FROM pg_catalog.pg_database d, LATERAL aclexplode(d.datacl) a
 WHERE d.datname = current_database() AND a.grantee IN (SELECT oid FROM r)
UNION ALL
SELECT 'schema', n.nspname::text, a.privilege_type
  FROM pg_catalog.pg_namespace n, LATERAL aclexplode(n.nspacl) a
 WHERE n.nspname = 'public' AND a.grantee IN (SELECT oid FROM r)
UNION ALL
SELECT CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, c.relname::text, a.privilege_type
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
       LATERAL aclexplode(c.relacl) a
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND a.grantee IN (SELECT oid FROM r) AND c.relowner NOT IN (SELECT oid FROM r)
UNION ALL
SELECT CASE d.defaclobjtype WHEN 'S' THEN 'default_sequence' ELSE 'default_table' END,
       pg_catalog.pg_get_userbyid(d.defaclrole)::text, a.privilege_type
  FROM pg_catalog.pg_default_acl d, LATERAL aclexplode(d.defaclacl) a
 WHERE a.grantee IN (SELECT oid FROM r)
UNION ALL
SELECT 'member', g.rolname::text, 'MEMBER'
  FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
 WHERE m.member IN (SELECT oid FROM r)
"""
_PG_OWNED = """
SELECT c.relname::text, c.relkind = 'S'
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(owner)s)
"""


class PostgresServer:
    engine = "postgres"
    principal_per_database = False
    tables_by_app = True

    def __init__(self, server: Mapping[str, Any]) -> None:
        self._server = server
        self._superuser: dict[str, Any] = {}

    def _admin(self, database: str) -> Any:
        conn = self._superuser.get(database)
        if conn is None or conn.closed:
            conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=database)
            conn.autocommit = True
            self._superuser[database] = conn
        return conn

    def _query(self, database: str, statement: Any, parameters: Mapping[str, Any] | None = None) -> list[Any]:
        with self._admin(database).cursor() as cur:
            cur.execute(statement, parameters)
            return cur.fetchall() if cur.description else []

    def close(self) -> None:
        for conn in self._superuser.values():
            conn.close()

    def expected(self, profile: str, database: str) -> frozenset[Grant]:
        owner = owner_role(database)
        owned = self._query(database, _PG_OWNED, {"owner": owner})
        return postgres_grants(
            profile,
            database=database,
            owner=owner,
            tables=frozenset(name for name, sequence in owned if not sequence),
            sequences=frozenset(name for name, sequence in owned if sequence),
        )

    def grants(self, principal: str, database: str) -> frozenset[Grant]:
        return frozenset(tuple(row) for row in self._query(database, _PG_GRANTS, {"p": principal}))  # type: ignore[misc]

    def binding(self, principal: str, database: str) -> str | None:
        rows = self._query(
            "postgres",
            "SELECT r.rolname, p.objectid FROM pg_roles r "
            "LEFT JOIN pgaadauth_list_principals(false) p ON p.rolname = r.rolname WHERE r.rolname = %(p)s",
            {"p": principal},
        )
        if not rows:
            return None
        return str(rows[0][1] or "").lower()

    @contextmanager
    def _as(self, principal: str, database: str) -> Iterator[Any]:
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user=principal, dbname=database)
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()

    def prove_access(self, principal: str, database: str, profile: str) -> None:
        """Log in as the principal: what the profile allows works, one thing it does not is refused."""
        wanted = PROFILES[profile]
        with self._as(principal, database) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(OWNED_TABLE)))
            insert = sql.SQL("INSERT INTO {} (note) VALUES ('by the app')").format(sql.Identifier(OWNED_TABLE))
            if "INSERT" in wanted:
                cur.execute(insert)
            else:
                _refused(cur, insert, errors.InsufficientPrivilege)
            if "CREATE" not in wanted:
                _refused(cur, sql.SQL("CREATE TABLE model_intruder (id int)"), errors.InsufficientPrivilege)
            _refused(cur, sql.SQL("TRUNCATE {}").format(sql.Identifier(OWNED_TABLE)), errors.InsufficientPrivilege)

    def create_table(self, principal: str, database: str, table: str) -> None:
        with self._as(principal, database) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY, note text)").format(sql.Identifier(table)))
            cur.execute(sql.SQL("INSERT INTO {} (note) VALUES ('migrated')").format(sql.Identifier(table)))

    def table_usable(self, principal: str, database: str, table: str) -> bool:
        try:
            with self._as(principal, database) as conn, conn.cursor() as cur:
                cur.execute(sql.SQL("SELECT note FROM {}").format(sql.Identifier(table)))
                return ("migrated",) in cur.fetchall()
        except psycopg2.Error:
            return False

    def table_exists(self, database: str, table: str) -> bool:
        rows = self._query(database, "SELECT to_regclass(%(t)s) IS NOT NULL", {"t": f"public.{table}"})
        return bool(rows[0][0])

    def revoke_by_hand(self, principal: str, database: str) -> None:
        self._query(
            database,
            sql.SQL("REVOKE SELECT ON {} FROM {}").format(sql.Identifier(OWNED_TABLE), sql.Identifier(principal)),
        )

    def grant_extra_by_hand(self, principal: str, database: str) -> None:
        self._query(
            database,
            sql.SQL("GRANT TRUNCATE ON {} TO {}").format(sql.Identifier(OWNED_TABLE), sql.Identifier(principal)),
        )

    def drop_principal_by_hand(self, principal: str, database: str) -> None:
        """A careful DBA: the role's objects go to each database's owner first, so no data is lost."""
        role = sql.Identifier(principal)
        # Not the templates: a session left on template1 makes every CREATE DATABASE on the server fail.
        listed = "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"
        databases = [row[0] for row in self._query("postgres", listed)]
        for name in databases:
            try:
                self._query(
                    name,
                    sql.SQL("REASSIGN OWNED BY {} TO {}").format(role, sql.Identifier(owner_role(name))),
                )
            except errors.UndefinedObject:  # a database without an owner role: nothing of ours there
                self._query(name, sql.SQL("REASSIGN OWNED BY {} TO postgres").format(role))
            self._query(name, sql.SQL("DROP OWNED BY {}").format(role))
        self._query("postgres", sql.SQL("DROP ROLE {}").format(role))


def _refused(cur: Any, statement: Any, error: type[Exception]) -> None:
    try:
        cur.execute(statement)
    except error:
        return
    raise Refused(f"the principal may run {statement!r}, which its profile does not allow")


# -- MySQL (MariaDB behind the shim proxy) --------------------------------------------------------
class MysqlServer:
    engine = "mysql"
    principal_per_database = False
    tables_by_app = True

    def __init__(self, root: RootLogin, proxy_port: int) -> None:
        self._root = root
        self._proxy_port = proxy_port
        self._connection: ExitStack | None = None
        self._conn: Any = None

    def _query(self, statement: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        if self._conn is None:
            self._connection = ExitStack()
            self._conn = self._connection.enter_context(root_connection(root=self._root))
        with self._conn.cursor() as cur:
            cur.execute(statement, parameters)
            return list(cur.fetchall())

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def expected(self, profile: str, database: str) -> frozenset[Grant]:
        return mysql_grants(profile, database=database)

    def grants(self, principal: str, database: str) -> frozenset[Grant]:
        """Database-level grants on this database, plus any global or table-level one (none expected)."""
        grantee = f"'{principal}'@'%'"
        found: set[Grant] = set()
        for schema, privilege in self._query(
            "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s",
            (grantee,),
        ):
            name = schema.replace("\\_", "_").replace("\\%", "%")
            if name == database:
                found.add(("database", name, privilege))
        for (privilege,) in self._query(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s", (grantee,)
        ):
            if privilege != "USAGE":
                found.add(("global", "*", privilege))
        for table, privilege in self._query(
            "SELECT TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES "
            "WHERE GRANTEE = %s AND TABLE_SCHEMA = %s",
            (grantee, database),
        ):
            found.add(("table", table, privilege))
        return frozenset(found)

    def binding(self, principal: str, database: str) -> str | None:
        if not self._query("SELECT 1 FROM mysql.user WHERE User = %s AND Host = '%%'", (principal,)):
            return None
        rows = self._query("SELECT client_id FROM aad_shim.principals WHERE user = %s AND host = '%%'", (principal,))
        return str(rows[0][0]).lower() if rows else ""

    @contextmanager
    def _as(self, principal: str, database: str) -> Iterator[Any]:
        conn = pymysql.connect(
            host="127.0.0.1",
            port=self._proxy_port,
            user=principal,
            password="stand-in-entra-token",  # the proxy drops it: the local server checks no tokens
            database=database,
            autocommit=True,
            ssl_disabled=True,
        )
        try:
            yield conn
        finally:
            conn.close()

    def prove_access(self, principal: str, database: str, profile: str) -> None:
        wanted = PROFILES[profile]
        with self._as(principal, database) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM `{OWNED_TABLE}`")
            insert = f"INSERT INTO `{OWNED_TABLE}` (note) VALUES ('by the app')"
            if "INSERT" in wanted:
                cur.execute(insert)
            else:
                _mysql_refused(cur, insert)
            if "CREATE" not in wanted:
                _mysql_refused(cur, "CREATE TABLE model_intruder (id int)")
            _mysql_refused(cur, f"DROP TABLE `{OWNED_TABLE}`")

    def create_table(self, principal: str, database: str, table: str) -> None:
        with self._as(principal, database) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE `{table}` (id int AUTO_INCREMENT PRIMARY KEY, note varchar(40))")
            cur.execute(f"INSERT INTO `{table}` (note) VALUES ('migrated')")

    def table_usable(self, principal: str, database: str, table: str) -> bool:
        try:
            with self._as(principal, database) as conn, conn.cursor() as cur:
                cur.execute(f"SELECT note FROM `{table}`")
                return ("migrated",) in cur.fetchall()
        except pymysql.Error:
            return False

    def table_exists(self, database: str, table: str) -> bool:
        return bool(
            self._query(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (database, table)
            )
        )

    def _pattern(self, principal: str, database: str) -> str:
        """The database as the grant names it (escaped as a pattern by whoever granted it)."""
        for (schema,) in self._query(
            "SELECT DISTINCT TABLE_SCHEMA FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s",
            (f"'{principal}'@'%'",),
        ):
            if schema.replace("\\_", "_").replace("\\%", "%") == database:
                return str(schema)
        return database.replace("_", "\\_")

    def revoke_by_hand(self, principal: str, database: str) -> None:
        self._query(f"REVOKE SELECT ON `{self._pattern(principal, database)}`.* FROM %s@'%%'", (principal,))

    def grant_extra_by_hand(self, principal: str, database: str) -> None:
        self._query(f"GRANT TRIGGER ON `{self._pattern(principal, database)}`.* TO %s@'%%'", (principal,))

    def drop_principal_by_hand(self, principal: str, database: str) -> None:
        self._query("DROP USER %s@'%%'", (principal,))


def _mysql_refused(cur: Any, statement: str) -> None:
    try:
        cur.execute(statement)
    except pymysql.err.OperationalError as exc:
        if exc.args[0] in (1142, 1044, 1045):  # command denied / access denied
            return
        raise
    raise Refused(f"the principal may run {statement!r}, which its profile does not allow")


# -- Azure SQL (the recording connection) -------------------------------------------------------
class SqlServer:
    engine = "sql"
    principal_per_database = True
    tables_by_app = False  # nobody can log in to the recording connection

    def __init__(self) -> None:
        self.fake = FakeSqlServer([])

    def reset(self, databases: list[str]) -> None:
        """A fresh server per history (the recording connection keeps its databases in memory)."""
        self.fake = FakeSqlServer(databases)

    def connect(self, connection_string: str, **_: Any) -> Any:
        """What the product's pyodbc.connect reaches."""
        return self.fake.connect(connection_string)

    def close(self) -> None:
        pass

    def expected(self, profile: str, database: str) -> frozenset[Grant]:
        return sql_grants(profile, database=database)

    def grants(self, principal: str, database: str) -> frozenset[Grant]:
        model = self.fake.databases[database.lower()]
        key = principal.lower()
        if key not in model.users:
            return frozenset()
        found: set[Grant] = {
            ("database", database, permission) if schema is None else ("schema", schema, permission)
            for schema, permission in model.grants.get(key, set())
        }
        found |= {("role", role, "MEMBER") for role in model.members.get(key, set())}
        return frozenset(found)

    def binding(self, principal: str, database: str) -> str | None:
        user = self.fake.databases[database.lower()].users.get(principal.lower())
        return None if user is None else user.sid.lower()

    def prove_access(self, principal: str, database: str, profile: str) -> None:
        pass  # no server to log in to: the grants read above are the whole evidence

    def create_table(self, principal: str, database: str, table: str) -> None:
        raise NotImplementedError

    def table_usable(self, principal: str, database: str, table: str) -> bool:
        raise NotImplementedError

    def table_exists(self, database: str, table: str) -> bool:
        raise NotImplementedError

    def revoke_by_hand(self, principal: str, database: str) -> None:
        self.fake.run_as_admin(database, f"REVOKE SELECT ON SCHEMA::[dbo] FROM {_bracket(principal)}")

    def grant_extra_by_hand(self, principal: str, database: str) -> None:
        self.fake.run_as_admin(database, f"GRANT EXECUTE ON SCHEMA::[dbo] TO {_bracket(principal)}")

    def drop_principal_by_hand(self, principal: str, database: str) -> None:
        self.fake.run_as_admin(database, f"DROP USER {_bracket(principal)}")


def _bracket(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"
