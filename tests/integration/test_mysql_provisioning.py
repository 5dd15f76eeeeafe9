"""The MySQL slice end to end: real SDK clients -> emulator, the shim proxy -> the real MariaDB.

Every privilege claim is proven by logging in as the provisioned user, the way the app will.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pymysql
import pytest

from emulator.mysql_local import RootLogin, root_connection
from provisioning.engines.mysql import AZURE_ONLY_READ_BINDING, MysqlSession
from provisioning.errors import PermanentError, TransientError
from provisioning.models import Engine, Grant, ServerInfo, TlsMode
from provisioning.plan import (
    CreatePrincipal,
    EnableSystemIdentity,
    GrantPrivileges,
    RebindPrincipal,
    RevokePrivileges,
    SetAppSettings,
)
from provisioning.principal_names import principal_name
from provisioning.reconciler import Mode
from provisioning.resource_ids import parse_app_id, parse_resource_id
from tests.conftest import MARIADB_HOST, MARIADB_PORT
from tests.estates import APPS_GROUP, SUBSCRIPTION, mysql_server_id

pytestmark = pytest.mark.integration
ROOT = RootLogin(host=MARIADB_HOST, port=int(MARIADB_PORT))
TABLE_ACCESS_DENIED = 1142  # "<command> command denied to user ... for table ..."
WRITES = {"PUT", "PATCH", "DELETE"}


def new_app(emulator: Any, tag: str, *, name: str | None = None) -> Any:
    site_id = emulator.create_site(
        SUBSCRIPTION, APPS_GROUP, name or f"app-{uuid.uuid4().hex[:10]}", tags={"passwordless": tag}
    )
    return parse_app_id(site_id)


def pattern(database: str) -> str:
    """How the database appears in a GRANT and in the privilege catalog: LIKE wildcards escaped."""
    return database.replace("_", "\\_")


def users(token: str) -> set[tuple[str, str]]:
    """The accounts whose name carries ``token``: other test sessions may share the server."""
    with root_connection(root=ROOT) as conn, conn.cursor() as cur:
        cur.execute("SELECT User, Host FROM mysql.user WHERE LOCATE(%s, User) > 0", (token,))
        return {(str(user), str(host)) for user, host in cur.fetchall()}


def grants_of(user: str) -> set[tuple[str, str, str]]:
    """(scope, object, privilege) the server records for ``'user'@'%'``, at every level."""
    grantee = f"'{user}'@'%'"
    with root_connection(root=ROOT) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT 'global', '*', PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s"
            " UNION ALL SELECT 'database', TABLE_SCHEMA, PRIVILEGE_TYPE"
            " FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s"
            " UNION ALL SELECT 'table', CONCAT(TABLE_SCHEMA, '.', TABLE_NAME), PRIVILEGE_TYPE"
            " FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = %s",
            (grantee, grantee, grantee),
        )
        return {(str(a), str(b), str(c)) for a, b, c in cur.fetchall()}


def refused(cursor: Any, statement: str) -> int:
    with pytest.raises(pymysql.err.MySQLError) as caught:
        cursor.execute(statement)
    return int(caught.value.args[0])


def test_first_apply_creates_the_bound_user_with_exactly_its_sql(
    emulator: Any, runtime: Any, local_mysql: dict[str, Any]
) -> None:
    app = new_app(emulator, "orders-mysql:writer")
    result = runtime.reconciler.reconcile_app(app)

    assert result.applied
    assert [type(s) for s in result.plan.steps] == [
        EnableSystemIdentity,
        CreatePrincipal,
        GrantPrivileges,
        SetAppSettings,
    ]
    name = principal_name(app, Engine.MYSQL)
    client_id = emulator.identity_of(app.id)[1].lower()
    create, grant = result.plan.steps[1], result.plan.steps[2]
    assert create.binding == client_id
    assert create.sql == (
        "SET aad_auth_validate_oids_in_tenant = OFF",
        f"CREATE AADUSER '{name}' IDENTIFIED BY '{client_id}'",
    )
    database = local_mysql["databases"][0]
    assert grant.sql == (f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{pattern(database)}`.* TO '{name}'@'%'",)
    settings = emulator.app_settings(app.id)
    assert (settings["AZURE_MYSQL_HOST"], settings["AZURE_MYSQL_NAME"], settings["AZURE_MYSQL_USER"]) == (
        "127.0.0.1",
        database,
        name,
    )
    assert grants_of(name) == {("global", "*", "USAGE")} | {
        ("database", pattern(database), p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE")
    }
    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty


def test_reader_may_select_and_is_refused_insert(emulator: Any, runtime: Any, mysql_connect: Any) -> None:
    app = new_app(emulator, "orders-mysql:reader")
    runtime.reconciler.reconcile_app(app)
    with mysql_connect(principal_name(app, Engine.MYSQL)) as conn, conn.cursor() as cur:
        cur.execute("SELECT item FROM orders ORDER BY id LIMIT 1")
        assert cur.fetchone() == ("first",)
        assert refused(cur, "INSERT INTO orders (item) VALUES ('nope')") == TABLE_ACCESS_DENIED


def test_writer_may_insert_and_is_refused_create_table(emulator: Any, runtime: Any, mysql_connect: Any) -> None:
    app = new_app(emulator, "orders-mysql:writer")
    runtime.reconciler.reconcile_app(app)
    with mysql_connect(principal_name(app, Engine.MYSQL)) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (item) VALUES ('by writer')")
        cur.execute("DELETE FROM orders WHERE item = 'by writer'")
        assert cur.rowcount == 1
        assert refused(cur, "CREATE TABLE intruder (id int)") == TABLE_ACCESS_DENIED


def test_ddl_may_create_tables_but_never_drop(emulator: Any, runtime: Any, mysql_connect: Any) -> None:
    app = new_app(emulator, "orders-mysql:ddl")
    runtime.reconciler.reconcile_app(app)
    table = f"migration_{uuid.uuid4().hex[:6]}"
    with mysql_connect(principal_name(app, Engine.MYSQL)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE " + table + " (id int PRIMARY KEY)")  # the name is generated above
        cur.execute("ALTER TABLE " + table + " ADD COLUMN note varchar(20)")
        cur.execute("CREATE INDEX by_note ON " + table + " (note)")
        assert refused(cur, "DROP TABLE " + table) == TABLE_ACCESS_DENIED


def test_a_custom_profile_grants_exactly_its_list(emulator: Any, runtime: Any, mysql_connect: Any) -> None:
    app = new_app(emulator, "orders-mysql:auditor")
    result = runtime.reconciler.reconcile_app(app)
    name = principal_name(app, Engine.MYSQL)
    assert [s.sql for s in result.plan.steps if isinstance(s, GrantPrivileges)] == [
        (f"GRANT SELECT ON `{pattern(result.plan.steps[2].grants[0].object_name[0])}`.* TO '{name}'@'%'",)
    ]
    with mysql_connect(name) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders")
        assert refused(cur, "UPDATE orders SET item = item") == TABLE_ACCESS_DENIED


def test_walking_writer_down_to_reader_revokes_exactly_the_excess_and_nothing_outside(
    emulator: Any, runtime: Any, mysql_connect: Any, local_mysql: dict[str, Any]
) -> None:
    orders, audit = local_mysql["databases"]
    app = new_app(emulator, "orders-mysql:writer")
    runtime.reconciler.reconcile_app(app)
    name = principal_name(app, Engine.MYSQL)
    with root_connection(root=ROOT) as conn, conn.cursor() as cur:  # granted by hand, outside the scope
        cur.execute("GRANT SELECT ON `" + pattern(audit) + "`.* TO %s@%s", (name, "%"))
        cur.execute("GRANT INSERT ON `" + orders + "`.`canary` TO %s@%s", (name, "%"))
    outside = {("database", pattern(audit), "SELECT"), ("table", f"{orders}.canary", "INSERT")}

    emulator.set_tags(app.id, {"passwordless": "orders-mysql:reader"})
    down = runtime.reconciler.reconcile_app(app)

    assert [type(s) for s in down.plan.steps] == [RevokePrivileges]
    assert down.plan.steps[0].sql == (f"REVOKE INSERT, UPDATE, DELETE ON `{pattern(orders)}`.* FROM '{name}'@'%'",)
    assert grants_of(name) == {("global", "*", "USAGE"), ("database", pattern(orders), "SELECT"), *outside}
    with mysql_connect(name) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders")
        assert refused(cur, "INSERT INTO orders (item) VALUES ('after downgrade')") == TABLE_ACCESS_DENIED
        cur.execute("INSERT INTO canary VALUES (1)")  # the hand-made table grant still works


def test_a_grant_never_reaches_a_database_whose_name_matches_as_a_pattern(
    emulator: Any, runtime: Any, mysql_connect: Any, local_mysql: dict[str, Any]
) -> None:
    look_alike = local_mysql["databases"][0].replace("_", "X", 1)  # what `orders_<run>` matches as a LIKE
    with root_connection(root=ROOT) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE `" + look_alike + "`")
        cur.execute("CREATE TABLE `" + look_alike + "`.secrets (id int)")
    try:
        app = new_app(emulator, "orders-mysql:reader")
        runtime.reconciler.reconcile_app(app)
        with mysql_connect(principal_name(app, Engine.MYSQL)) as conn, conn.cursor() as cur:
            assert refused(cur, "SELECT * FROM `" + look_alike + "`.secrets") == TABLE_ACCESS_DENIED
    finally:
        with root_connection(root=ROOT) as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE `" + look_alike + "`")


def test_noop_reconcile_writes_nothing_and_reads_the_catalog_at_most_twice(
    emulator: Any, runtime: Any, local_mysql: dict[str, Any]
) -> None:
    app = new_app(emulator, "orders-mysql:reader")
    runtime.reconciler.reconcile_app(app)
    emulator.clear_requests()

    again = runtime.reconciler.reconcile_app(app)

    assert not again.applied and again.plan.empty
    assert again.database_writes == 0
    assert [r for r in emulator.requests if r.method in WRITES] == []
    queries = {k: v for k, v in again.database_catalog_queries.items() if k.startswith("mysql-")}
    assert list(queries.values()) == [2], again.database_catalog_queries


@pytest.mark.parametrize(
    "hostile",
    ['a"b', "a]b", "a`b", "o'neil; DROP TABLE t;--", "ünïcødé-名前", "a-rather-long-site-name-for-the-mysql-limit"],
)
def test_hostile_site_names_give_exactly_one_user(
    emulator: Any, runtime: Any, mysql_connect: Any, local_mysql: dict[str, Any], hostile: str
) -> None:
    token = uuid.uuid4().hex[:6]
    app = new_app(emulator, "orders-mysql:reader", name=token + hostile)  # a mangled name would keep the token
    runtime.reconciler.reconcile_app(app)

    name = principal_name(app, Engine.MYSQL)
    if len(app.site) > 32:
        assert len(name) == 32 and name.startswith(app.site[:20]) and name != app.site
    else:
        assert name == app.site
    assert users(token) == {(name, "%")}
    database = local_mysql["databases"][0]
    assert grants_of(name) == {("global", "*", "USAGE"), ("database", pattern(database), "SELECT")}
    with mysql_connect(name) as conn, conn.cursor() as cur:  # the name ran as no SQL: canary is still there
        cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'canary'")
        assert cur.fetchone() == (1,)
    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty


def test_stale_binding_is_rebound_to_the_new_identity(
    emulator: Any, runtime: Any, mysql_connect: Any, mysql_proxy: Any
) -> None:
    app = new_app(emulator, "orders-mysql:reader")
    runtime.reconciler.reconcile_app(app)
    name = principal_name(app, Engine.MYSQL)
    emulator.recreate_system_identity(app.id)
    new_client_id = emulator.identity_of(app.id)[1].lower()

    planned = runtime.reconciler.reconcile_app(app, Mode.PLAN)
    assert isinstance(planned.plan.steps[0], RebindPrincipal)
    assert planned.plan.steps[0].sql == (
        f"DROP USER '{name}'@'%'",
        "SET aad_auth_validate_oids_in_tenant = OFF",
        f"CREATE AADUSER '{name}' IDENTIFIED BY '{new_client_id}'",
    )
    runtime.reconciler.reconcile_app(app)

    conn = pymysql.connect(host="127.0.0.1", port=mysql_proxy.port, user="root", ssl_disabled=True)
    with conn, conn.cursor() as cur:  # the product's own binding read, as Azure would answer it
        cur.execute(AZURE_ONLY_READ_BINDING, (name,))
        assert cur.fetchall() == ((name, "aad_auth", f"AADSP:{new_client_id}:upn:{name}"),)
    with mysql_connect(name) as user, user.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders")  # granted again after the rebind


def test_tls_is_insisted_on_and_login_errors_are_permanent_without_the_token(
    runtime: Any, mysql_proxy: Any, local_mysql: dict[str, Any], estate: dict[str, Any]
) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.secret-token-value"
    target = runtime.reconciler.catalog.targets["orders-mysql"]
    server = ServerInfo(parse_resource_id(mysql_server_id(estate)), "127.0.0.1", (), port=mysql_proxy.port)
    admin = local_mysql["administrator"]["login"]

    with pytest.raises(PermanentError) as no_tls:
        MysqlSession(server, admin, lambda: token).observe(dataclasses.replace(target, tls=TlsMode.REQUIRE), "x")
    assert "SSL is required" in str(no_tls.value) and token not in str(no_tls.value)

    with pytest.raises(PermanentError, match="login refused") as unknown:
        MysqlSession(server, "nobody-here", lambda: token).observe(target, "x")
    assert token not in str(unknown.value)

    with pytest.raises(TransientError):
        MysqlSession(dataclasses.replace(server, port=1), admin, lambda: token).observe(target, "x")


def test_one_snapshot_shows_every_app_user_with_its_binding_and_grants(
    emulator: Any, runtime: Any, mysql_proxy: Any, local_mysql: dict[str, Any], estate: dict[str, Any]
) -> None:
    reader, writer = new_app(emulator, "orders-mysql:reader"), new_app(emulator, "orders-mysql:writer")
    for app in (reader, writer):
        runtime.reconciler.reconcile_app(app)
    target = runtime.reconciler.catalog.targets["orders-mysql"]
    server = ServerInfo(parse_resource_id(mysql_server_id(estate)), "127.0.0.1", (), port=mysql_proxy.port)
    session = MysqlSession(server, local_mysql["administrator"]["login"], lambda: "token")
    try:
        snapshot = session.snapshot(target)
    finally:
        session.close()

    database = local_mysql["databases"][0]
    for app, privileges in ((reader, {"SELECT"}), (writer, {"SELECT", "INSERT", "UPDATE", "DELETE"})):
        name = principal_name(app, Engine.MYSQL)
        assert snapshot.principals[name] == emulator.identity_of(app.id)[1].lower()
        assert snapshot.grants[name] == {Grant("database", (database,), p) for p in privileges}
    assert session.catalog_queries == {database: 1, "mysql.user": 1}  # users are read once per server


def test_a_percent_sign_in_the_database_name_is_provisioned_exactly(
    emulator: Any, runtime: Any, mysql_connect: Any, local_mysql: dict[str, Any]
) -> None:
    """``%`` is legal in a MySQL database name; PyMySQL fills templates with Python's ``%`` operator."""
    token = uuid.uuid4().hex[:6]
    database, look_alike = f"pct%{token}_db", f"pctany{token}_db"  # what the name matches as a LIKE pattern
    admin = local_mysql["administrator"]["login"]
    with root_connection(root=ROOT) as conn, conn.cursor() as cur:
        for name in (database, look_alike):
            cur.execute("CREATE DATABASE `" + name + "`")
            cur.execute("CREATE TABLE `" + name + "`.orders (item varchar(20))")
        cur.execute("INSERT INTO `" + database + "`.orders VALUES ('first')")
        cur.execute(
            "GRANT ALL PRIVILEGES ON `"
            + pattern(database).replace("%", "\\%")
            + f"`.* TO '{admin}'@'%' WITH GRANT OPTION"
        )
    catalog = runtime.reconciler.catalog
    target = dataclasses.replace(catalog.targets["orders-mysql"], database=database)
    runtime.reconciler.catalog = dataclasses.replace(catalog, targets={**catalog.targets, target.name: target})
    try:
        app = new_app(emulator, "orders-mysql:reader")
        result = runtime.reconciler.reconcile_app(app)

        name = principal_name(app, Engine.MYSQL)
        grant = next(step for step in result.plan.steps if isinstance(step, GrantPrivileges))
        assert grant.sql == (f"GRANT SELECT ON `pct\\%{token}\\_db`.* TO '{name}'@'%'",)
        assert grants_of(name) == {("global", "*", "USAGE"), ("database", f"pct\\%{token}\\_db", "SELECT")}
        assert emulator.app_settings(app.id)["AZURE_MYSQL_NAME"] == database
        with mysql_connect(name, database) as conn, conn.cursor() as cur:
            cur.execute("SELECT item FROM orders")
            assert cur.fetchall() == (("first",),)
            assert refused(cur, "INSERT INTO orders VALUES ('nope')") == TABLE_ACCESS_DENIED
            assert refused(cur, "SELECT * FROM `" + look_alike + "`.orders") == TABLE_ACCESS_DENIED
        assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty
    finally:
        with root_connection(root=ROOT) as conn, conn.cursor() as cur:
            for name in (database, look_alike):
                cur.execute("DROP DATABASE `" + name + "`")
