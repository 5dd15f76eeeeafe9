"""Prepare the local MariaDB to stand in for the estate's Azure MySQL flexible servers, and reset it.

On Azure the server's Entra administrator holds ``CREATE USER``, the grant option and every
privilege on the server's databases (never ``SUPER``), and creates Entra-bound users with
``CREATE AADUSER``. Here the administrator becomes a plain account with those powers (plus
``SELECT`` on ``mysql``.*, which Azure's administrator has through ``SELECT`` on *.*, so that
``information_schema`` shows every account's grants), and the Azure-only statements are answered
by a few objects in schema ``aad_shim``, which ``emulator/mysql_proxy.py`` rewrites them into:

- ``aad_shim.principals``: (user, host, client id, creating administrator) for each user made by
  ``CREATE AADUSER``;
- ``aad_shim.create_aaduser(name, client id)``: what ``CREATE AADUSER`` does, with Azure's checks
  (``aad_auth_validate_oids_in_tenant`` must be ``OFF`` to bind a client id, error 9102 otherwise;
  a user name holds at most 32 characters, error 1470 otherwise); the user is a plain
  ``'name'@'%'`` account without a password;
- ``aad_shim.user``: ``mysql.user`` as Azure shows it, where such a user has plugin ``aad_auth``
  and ``authentication_string`` ``AADSP:<client id>:upn:<name>``.

What Azure stores for ``CREATE AADUSER 'n' IDENTIFIED BY '<client id>'``:
``mysql.user.plugin = 'aad_auth'`` and ``authentication_string = 'AADSP:<client id>:upn:n'``
(``AADApp:`` on the retired single server, kept by users migrated from it; ``AADUser:`` and
``AADGroup:`` with an object id for people and groups). Sources: petoju/terraform-provider-mysql,
``mysql/resource_user.go`` (reads those four prefixes back from ``SHOW CREATE USER``); a
``mysql.user`` listing of a flexible server in yogendratamang48's reproduction of that provider's
issue #240 (``umi-7ada7a38 | % | AADSP:f0ede8f4-...:upn:umi-7ada7a38``); Azure/azure-service-operator
issue #5151 (``AADApp:`` users surviving migration to flexible server).

The view joins ``mysql.user``, so a user dropped with ``DROP USER`` drops out of it; a later
``CREATE AADUSER`` of the same name replaces the stale record. (A user re-created with a plain
``CREATE USER`` under the name of a dropped Entra user would still show the old binding: the
product never does that.)

The shim is shared by every estate on the server; set-up and reset serialise on a named lock.
Reset drops the users the estate's administrators created through the shim, whatever their names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pymysql
import pymysql.connections

__all__ = [
    "BINDING_VIEW",
    "CREATE_PROCEDURE",
    "DEFAULT_ROOT",
    "SHIM_SCHEMA",
    "VALIDATION_VARIABLE",
    "RootLogin",
    "install_shim",
    "prepare_mysql",
    "reset_mysql",
    "root_connection",
]

SHIM_SCHEMA = "aad_shim"
CREATE_PROCEDURE = SHIM_SCHEMA + ".create_aaduser"
BINDING_VIEW = SHIM_SCHEMA + ".user"
PRINCIPALS_TABLE = SHIM_SCHEMA + ".principals"
VALIDATION_VARIABLE = "aad_auth_validate_oids_in_tenant"  # a user variable here, a server variable on Azure
MAX_USER_NAME = 32  # MySQL 8's limit, which Azure keeps; MariaDB allows 128
_SHIM_VERSION = "aad_shim 2"  # the procedure's comment; objects are rebuilt when it changes
_LOCK = "aad_shim"
_LOCK_TIMEOUT_S = 60

_SHIM_TABLE = (
    "CREATE TABLE IF NOT EXISTS " + PRINCIPALS_TABLE + " ("
    " user VARCHAR(128) CHARACTER SET utf8mb3 COLLATE utf8mb3_bin NOT NULL,"
    " host VARCHAR(255) CHARACTER SET utf8mb3 COLLATE utf8mb3_bin NOT NULL,"
    " client_id CHAR(36) CHARACTER SET ascii NOT NULL,"
    " created_by VARCHAR(128) CHARACTER SET utf8mb3 COLLATE utf8mb3_bin NOT NULL,"
    " PRIMARY KEY (user, host)"
    ") ENGINE=InnoDB"
)
_SHIM_VIEW = (
    "CREATE SQL SECURITY DEFINER VIEW " + BINDING_VIEW + " AS"
    " SELECT u.Host AS Host, u.User AS User,"
    " IF(p.client_id IS NULL, u.plugin, 'aad_auth') AS plugin,"
    " IF(p.client_id IS NULL, u.authentication_string, CONCAT('AADSP:', p.client_id, ':upn:', u.User))"
    " AS authentication_string"
    " FROM mysql.user u LEFT JOIN " + PRINCIPALS_TABLE + " p ON p.user = u.User AND p.host = u.Host"
)
# SQL SECURITY INVOKER: the caller's own CREATE USER privilege is what lets it create the user.
_SHIM_PROCEDURE = (
    "CREATE PROCEDURE " + CREATE_PROCEDURE + "(IN user_name VARCHAR(255), IN client_id VARCHAR(255))"
    " MODIFIES SQL DATA SQL SECURITY INVOKER COMMENT '" + _SHIM_VERSION + "'"
    " BEGIN"
    "  DECLARE message VARCHAR(512);"
    "  IF @" + VALIDATION_VARIABLE + " IS NULL OR @" + VALIDATION_VARIABLE + " <> 'OFF'"
    "   OR client_id NOT REGEXP '^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$' THEN"
    "   SET message = CONCAT('An unexpected error occurred while trying to validate user ''', client_id, '''.');"
    "   SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 9102, MESSAGE_TEXT = message;"
    "  END IF;"
    "  IF CHAR_LENGTH(user_name) > " + str(MAX_USER_NAME) + " THEN"
    "   SET message = CONCAT('String ''', user_name, ''' is too long for user name (should be no longer than "
    + str(MAX_USER_NAME)
    + ")');"
    "   SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1470, MESSAGE_TEXT = message;"
    "  END IF;"
    "  EXECUTE IMMEDIATE CONCAT('CREATE USER ', QUOTE(user_name), '@''%''');"
    "  INSERT INTO " + PRINCIPALS_TABLE + " (user, host, client_id, created_by)"
    "   VALUES (user_name, '%', LOWER(client_id),"
    "    LEFT(SESSION_USER(), CHAR_LENGTH(SESSION_USER()) - CHAR_LENGTH(SUBSTRING_INDEX(SESSION_USER(), '@', -1)) - 1))"
    "   ON DUPLICATE KEY UPDATE client_id = VALUES(client_id), created_by = VALUES(created_by);"
    "  COMMIT;"  # CREATE AADUSER is DDL: it commits, whatever the session's autocommit
    " END"
)


@dataclass(frozen=True)
class RootLogin:
    """Where the local MariaDB listens and the superuser the set-up logs in as (no password locally)."""

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""


DEFAULT_ROOT = RootLogin()


@dataclass(frozen=True)
class _Server:
    admin: str
    databases: tuple[str, ...]


@contextmanager
def root_connection(database: str | None = None, *, root: RootLogin = DEFAULT_ROOT) -> Iterator[Any]:
    """Autocommit connection as the superuser, straight to MariaDB, closed on exit.

    For what an application's owner does outside the product: creating tables, granting by hand.
    """
    conn = pymysql.connect(
        host=root.host,
        port=root.port,
        user=root.user,
        password=root.password,
        database=database,
        autocommit=True,
        charset="utf8mb4",
        connect_timeout=10,
    )
    try:
        yield conn
    finally:
        conn.close()


def install_shim(*, root: RootLogin = DEFAULT_ROOT) -> None:
    """Create (or, after a change of version, rebuild) the ``aad_shim`` objects; idempotent."""
    with root_connection(root=root) as conn, _locked(conn):
        _install_shim(conn)


def prepare_mysql(estate: Mapping[str, Any], *, root: RootLogin = DEFAULT_ROOT) -> None:
    """Make the local server look like the estate's MySQL servers; running it again changes nothing."""
    servers = _servers(estate)
    with root_connection(root=root) as conn, _locked(conn), conn.cursor() as cur:
        _install_shim(conn)
        for server in servers:
            cur.execute("SELECT Super_priv FROM mysql.user WHERE User = %s AND Host = '%%'", (server.admin,))
            row = cur.fetchone()
            if row is not None and row[0] == "Y":
                raise ValueError(f"administrator {server.admin!r} has SUPER here; Azure's never has")
            admin = (server.admin, "%")
            cur.execute("CREATE USER IF NOT EXISTS %s@%s", admin)
            cur.execute("GRANT CREATE USER ON *.* TO %s@%s", admin)
            cur.execute("GRANT SELECT ON mysql.* TO %s@%s", admin)
            cur.execute("GRANT EXECUTE ON PROCEDURE " + CREATE_PROCEDURE + " TO %s@%s", admin)
            cur.execute("GRANT SELECT ON " + BINDING_VIEW + " TO %s@%s", admin)
            cur.execute("GRANT SELECT, INSERT, UPDATE ON " + PRINCIPALS_TABLE + " TO %s@%s", admin)
            for database in server.databases:
                cur.execute("CREATE DATABASE IF NOT EXISTS " + _identifier(database))
                cur.execute(
                    "GRANT ALL PRIVILEGES ON " + _schema_pattern(database) + ".* TO %s@%s WITH GRANT OPTION", admin
                )


def reset_mysql(estate: Mapping[str, Any], *, root: RootLogin = DEFAULT_ROOT) -> None:
    """Drop the estate's databases, its administrators, and every user they created through the shim.

    The shim itself stays: other estates may share the server.
    """
    servers = _servers(estate)
    admins = sorted({server.admin for server in servers})
    with root_connection(root=root) as conn, _locked(conn), conn.cursor() as cur:
        for database in sorted({d for server in servers for d in server.databases}):
            cur.execute("DROP DATABASE IF EXISTS " + _identifier(database))
        if not admins:
            return
        created: list[tuple[str, str]] = []
        if _shim_installed(conn):
            cur.execute("SELECT user, host FROM " + PRINCIPALS_TABLE + " WHERE created_by IN %s", (admins,))
            created = [(row[0], row[1]) for row in cur.fetchall()]
        for user, host in [*created, *((admin, "%") for admin in admins)]:
            cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
        if created:
            cur.execute("DELETE FROM " + PRINCIPALS_TABLE + " WHERE created_by IN %s", (admins,))


# --- internals ---------------------------------------------------------------------------


def _servers(estate: Mapping[str, Any]) -> list[_Server]:
    servers = []
    for subscription in estate.get("subscriptions") or []:
        for group in subscription.get("resource_groups") or []:
            for server in group.get("mysql_servers") or []:
                admin = server.get("administrator")
                if admin is None:
                    continue  # nobody could log in to it
                servers.append(_Server(str(admin["login"]), tuple(str(d) for d in server.get("databases") or [])))
    return servers


def _identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _schema_pattern(database: str) -> str:
    """``db``.* in a GRANT is a LIKE pattern: escape it, so ``a_b`` never also covers ``axb``."""
    return _identifier(database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%"))


@contextmanager
def _locked(conn: pymysql.connections.Connection) -> Iterator[None]:
    with conn.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, %s)", (_LOCK, _LOCK_TIMEOUT_S))
        row = cur.fetchone()
        if row is None or row[0] != 1:
            raise TimeoutError(f"the {_LOCK!r} lock stayed taken for {_LOCK_TIMEOUT_S} s")
    try:
        yield
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT RELEASE_LOCK(%s)", (_LOCK,))


def _shim_installed(conn: pymysql.connections.Connection) -> bool:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'principals'",
            (SHIM_SCHEMA,),
        )
        return cur.fetchone() is not None


def _install_shim(conn: pymysql.connections.Connection) -> None:
    """Objects are made once: re-creating the procedure or view would revoke other estates' grants."""
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS " + _identifier(SHIM_SCHEMA))
        cur.execute(_SHIM_TABLE)
        cur.execute(
            "SELECT ROUTINE_COMMENT FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s AND ROUTINE_NAME = %s",
            (SHIM_SCHEMA, CREATE_PROCEDURE.split(".", 1)[1]),
        )
        row = cur.fetchone()
        if row is not None and row[0] == _SHIM_VERSION:
            return
        cur.execute("DROP PROCEDURE IF EXISTS " + CREATE_PROCEDURE)
        cur.execute("DROP VIEW IF EXISTS " + BINDING_VIEW)
        cur.execute(_SHIM_VIEW)
        cur.execute(_SHIM_PROCEDURE)
