"""The MySQL shim proxy and the local estate set-up, proven on the real local MariaDB.

What the product relies on: Azure's three Entra statements are answered as Azure answers them
(including its refusals), exactly the user asked for is created whatever its name, every other
byte passes through unchanged, only administrators can create users, and set-up is idempotent
and reset leaves nothing behind. Rewriting itself is checked without a server first.

Names carry a random token so these tests never collide with other suites on the same server.
An unreachable MariaDB skips the module locally and fails it when ``CI`` is set.
"""

from __future__ import annotations

import secrets
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pymysql
import pytest

from emulator.mysql_local import RootLogin, prepare_mysql, reset_mysql, root_connection
from emulator.mysql_proxy import MysqlShimProxy, rewrite_query
from tests.conftest import MARIADB_HOST, MARIADB_PORT, mariadb_problem, require

CLIENT_ID = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
SET = "SET aad_auth_validate_oids_in_tenant = OFF"
CREATE = "CREATE AADUSER %s IDENTIFIED BY %s"
READ = "SELECT User, plugin, authentication_string FROM mysql.user WHERE User = %s AND Host = '%%'"
HOSTILE = [
    'a"b',
    "a]b",
    "a`b",
    "o'neil; DROP TABLE t;--",
    "back\\slash",
    "ünïcødé-名前",
    "x" * 32,
]

Connect = Callable[..., AbstractContextManager[Any]]


# --- rewriting, no server needed ---------------------------------------------------------------


def test_the_three_azure_statements_are_rewritten_and_literals_kept_byte_for_byte() -> None:
    hostile = b"'o\\'neil`\\\"; DROP TABLE t;--\xc3\xbc'"
    assert rewrite_query(b"SET aad_auth_validate_oids_in_tenant = OFF") == (
        b"SET @aad_auth_validate_oids_in_tenant = 'OFF'"
    )
    assert rewrite_query(b"CREATE AADUSER " + hostile + b" IDENTIFIED BY '" + CLIENT_ID.encode() + b"'") == (
        b"CALL aad_shim.create_aaduser(" + hostile + b", '" + CLIENT_ID.encode() + b"')"
    )
    assert rewrite_query(
        b"SELECT User, plugin, authentication_string FROM mysql.user WHERE User = " + hostile + b" AND Host = '%'"
    ) == (b"SELECT User, plugin, authentication_string FROM aad_shim.user WHERE User = " + hostile + b" AND Host = '%'")
    assert rewrite_query(b"SELECT User, plugin, authentication_string FROM mysql.user WHERE Host = '%'") == (
        b"SELECT User, plugin, authentication_string FROM aad_shim.user WHERE Host = '%'"
    )


@pytest.mark.parametrize(
    "query",
    [
        b"SELECT User, Host FROM mysql.user WHERE User = 'a'",
        b"SELECT User, plugin, authentication_string FROM mysql.user",
        b"SET aad_auth_validate_oids_in_tenant = ON",
        b"CREATE USER 'a'@'%'",
        b"SELECT 'CREATE AADUSER ''x'' IDENTIFIED BY ''y'''",
        b"CREATE AADUSER 'a' IDENTIFIED BY 'b'; DROP TABLE t",
        b"CREATE AADUSER 'a\\' IDENTIFIED BY 'b",
    ],
)
def test_anything_else_passes_unchanged(query: bytes) -> None:
    assert rewrite_query(query) == query


# --- on the real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root() -> RootLogin:
    require(mariadb_problem())
    return RootLogin(host=MARIADB_HOST, port=int(MARIADB_PORT))


@pytest.fixture(scope="module")
def estate(root: RootLogin) -> Iterator[dict[str, Any]]:
    token = secrets.token_hex(4)
    server = {
        "name": f"mysql-shim-{token}",
        "administrator": {"object_id": str(uuid.uuid4()), "login": f"shim-admin-{token}"},
        "databases": [f"shim_db_{token}"],
    }
    estate = {
        "subscriptions": [{"id": str(uuid.uuid4()), "resource_groups": [{"name": "g", "mysql_servers": [server]}]}]
    }
    prepare_mysql(estate, root=root)
    yield estate
    reset_mysql(estate, root=root)


@pytest.fixture(scope="module")
def admin(estate: dict[str, Any]) -> str:
    return str(estate["subscriptions"][0]["resource_groups"][0]["mysql_servers"][0]["administrator"]["login"])


@pytest.fixture(scope="module")
def database(estate: dict[str, Any]) -> str:
    return str(estate["subscriptions"][0]["resource_groups"][0]["mysql_servers"][0]["databases"][0])


@pytest.fixture
def connect(mysql_proxy: MysqlShimProxy, database: str) -> Connect:
    """Log in through the proxy as anyone, with a token-like password the local server never sees."""

    @contextmanager
    def opened(user: str, *, db: str | None = database) -> Iterator[Any]:
        conn = pymysql.connect(
            host="127.0.0.1",
            port=mysql_proxy.port,
            user=user,
            password="eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.stand-in",
            database=db,
            autocommit=True,
            ssl_disabled=True,
        )
        try:
            yield conn
        finally:
            conn.close()

    return opened


def create_aaduser(conn: Any, name: str, client_id: str = CLIENT_ID) -> None:
    with conn.cursor() as cur:
        cur.execute(SET)
        cur.execute(CREATE, (name, client_id))


def accounts(root: RootLogin, token: str) -> set[tuple[str, str]]:
    """The accounts whose name carries ``token``: other test sessions may share the server."""
    with root_connection(root=root) as conn, conn.cursor() as cur:
        cur.execute("SELECT User, Host FROM mysql.user WHERE LOCATE(%s, User) > 0", (token,))
        return {(str(user), str(host)) for user, host in cur.fetchall()}


@pytest.mark.parametrize("name", HOSTILE)
def test_create_aaduser_makes_exactly_that_user_and_azure_shows_its_binding(
    connect: Connect, admin: str, root: RootLogin, name: str
) -> None:
    token = secrets.token_hex(3)
    name = (token + name)[:32]  # the token first, so that a mangled name would still carry it
    with connect(admin) as conn:
        create_aaduser(conn, name)
        with conn.cursor() as cur:
            cur.execute(READ, (name,))
            shown = cur.fetchall()

    assert accounts(root, token) == {(name, "%")}
    assert shown == ((name, "aad_auth", f"AADSP:{CLIENT_ID}:upn:{name}"),)
    with connect(name, db=None) as conn, conn.cursor() as cur:  # the new user logs in with its token
        cur.execute("SELECT CURRENT_USER()")
        assert cur.fetchone() == (f"{name}@%",)


def test_azure_refusals_are_reproduced(connect: Connect, admin: str, root: RootLogin) -> None:
    token = secrets.token_hex(3)
    name = f"refusals-{token}"
    with connect(admin) as conn, conn.cursor() as cur:
        with pytest.raises(pymysql.err.OperationalError) as unvalidated:
            cur.execute(CREATE, (name, CLIENT_ID))  # without SET, Azure resolves the id in the tenant
        assert unvalidated.value.args[0] == 9102
        cur.execute(SET)
        with pytest.raises(pymysql.err.OperationalError) as too_long:
            cur.execute(CREATE, (token + "y" * 27, CLIENT_ID))
        assert too_long.value.args[0] == 1470
        with pytest.raises(pymysql.err.OperationalError) as not_a_guid:
            cur.execute(CREATE, (name, "not-a-client-id"))
        assert not_a_guid.value.args[0] == 9102
        cur.execute(CREATE, (name, CLIENT_ID))
        with pytest.raises(pymysql.err.OperationalError) as twice:
            cur.execute(CREATE, (name, CLIENT_ID))
        assert twice.value.args[0] == 1396
    assert accounts(root, token) == {(name, "%")}


def test_only_an_administrator_can_create_users(connect: Connect, admin: str) -> None:
    name = f"plain-{secrets.token_hex(3)}"
    with connect(admin) as conn:
        create_aaduser(conn, name)
    with connect(name, db=None) as conn, conn.cursor() as cur:
        cur.execute(SET)
        with pytest.raises(pymysql.err.OperationalError) as refused:
            cur.execute(CREATE, (f"{name}-x", CLIENT_ID))
        assert refused.value.args[0] in (1227, 1370)  # CREATE USER or EXECUTE denied


def test_a_dropped_user_leaves_the_binding_view_and_can_be_bound_anew(connect: Connect, admin: str) -> None:
    name = f"rebound-{secrets.token_hex(3)}"
    new_client_id = str(uuid.uuid4())
    with connect(admin) as conn, conn.cursor() as cur:
        create_aaduser(conn, name)
        cur.execute("DROP USER %s@%s", (name, "%"))
        cur.execute(READ, (name,))
        assert cur.fetchall() == ()
        create_aaduser(conn, name, new_client_id)
        cur.execute(READ, (name,))
        assert cur.fetchall() == ((name, "aad_auth", f"AADSP:{new_client_id}:upn:{name}"),)


def test_users_not_made_by_create_aaduser_show_as_they_are(connect: Connect, admin: str, root: RootLogin) -> None:
    name = f"native-{secrets.token_hex(3)}"
    with root_connection(root=root) as conn, conn.cursor() as cur:
        cur.execute("CREATE USER %s@%s", (name, "%"))
    try:
        with connect(admin) as conn, conn.cursor() as cur:
            cur.execute(READ, (name,))
            assert cur.fetchall() == ((name, "mysql_native_password", ""),)
    finally:
        with root_connection(root=root) as conn, conn.cursor() as cur:
            cur.execute("DROP USER %s@%s", (name, "%"))


def test_the_administrator_has_azures_powers_and_no_more(connect: Connect, admin: str, database: str) -> None:
    with connect(admin) as conn, conn.cursor() as cur:
        cur.execute("SELECT Super_priv, Create_user_priv FROM mysql.user WHERE User = %s", (admin,))
        assert cur.fetchone() == ("N", "Y")
        name = f"granted-{secrets.token_hex(3)}"
        create_aaduser(conn, name)
        cur.execute("GRANT SELECT ON `" + database.replace("_", "\\_") + "`.* TO %s@%s", (name, "%"))
        with pytest.raises(pymysql.err.OperationalError) as elsewhere:
            cur.execute("GRANT SELECT ON `mysql`.* TO %s@%s", (name, "%"))
        assert elsewhere.value.args[0] in (1044, 1142)
        cur.execute(
            "SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s",
            (f"'{name}'@'%'",),
        )
        assert cur.fetchall() == (("SELECT",),)  # the administrator sees other accounts' grants


def test_other_traffic_passes_through_unchanged(connect: Connect, admin: str) -> None:
    big = "z" * 300_000
    with connect(admin) as conn, conn.cursor() as cur:
        cur.execute("SELECT 'CREATE AADUSER ''x'' IDENTIFIED BY ''y''', %s, LENGTH(%s)", (big, big))
        assert cur.fetchone() == ("CREATE AADUSER 'x' IDENTIFIED BY 'y'", big, 300_000)
        with pytest.raises(pymysql.err.OperationalError) as untouched:  # not the product's: MariaDB answers
            cur.execute("SET aad_auth_validate_oids_in_tenant = ON")
        assert untouched.value.args[0] == 1193  # unknown system variable


def test_an_unreachable_upstream_looks_like_a_server_that_is_down(mysql_proxy: MysqlShimProxy) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with MysqlShimProxy.start(upstream=("127.0.0.1", closed_port)) as proxy:
        with pytest.raises(pymysql.err.OperationalError) as lost:
            pymysql.connect(host="127.0.0.1", port=proxy.port, user="x", connect_timeout=3)
        assert lost.value.args[0] in (2003, 2013)


def test_stop_cuts_open_connections(admin: str, database: str) -> None:
    proxy = MysqlShimProxy.start(upstream=(MARIADB_HOST, int(MARIADB_PORT)))
    conn = pymysql.connect(host="127.0.0.1", port=proxy.port, user=admin, database=database, ssl_disabled=True)
    proxy.stop()
    with pytest.raises(pymysql.err.OperationalError):
        conn.ping(reconnect=False)
    conn.close()


def test_prepare_is_idempotent_and_reset_leaves_nothing(root: RootLogin) -> None:
    token = secrets.token_hex(4)
    login, db = f"shim-reset-{token}", f"shim_reset_{token}"
    estate = {
        "subscriptions": [
            {
                "id": "s",
                "resource_groups": [
                    {
                        "name": "g",
                        "mysql_servers": [
                            {"name": "m", "administrator": {"object_id": "o", "login": login}, "databases": [db]}
                        ],
                    }
                ],
            }
        ]
    }
    prepare_mysql(estate, root=root)
    prepare_mysql(estate, root=root)
    with MysqlShimProxy.start(upstream=(root.host, root.port)) as proxy:
        conn = pymysql.connect(host="127.0.0.1", port=proxy.port, user=login, database=db, ssl_disabled=True)
        try:
            create_aaduser(conn, f"made-{token}")
        finally:
            conn.close()
    assert accounts(root, token) == {(login, "%"), (f"made-{token}", "%")}

    reset_mysql(estate, root=root)

    assert accounts(root, token) == set()
    with root_connection(root=root) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM aad_shim.principals WHERE created_by = %s", (login,))
        assert cur.fetchone() == (0,)
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (db,))
        assert cur.fetchone() is None
