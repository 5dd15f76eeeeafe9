"""The pgaadauth shim and the local estate set-up, proven on the real local PostgreSQL.

What the product relies on: the two functions keep Azure's signatures and result columns,
create exactly the role they are asked for whatever its name, refuse duplicates, forget dropped
roles, and only administrators may call them; set-up is idempotent and reset leaves nothing.

Every estate, role and database carries a random token so these tests never collide with other
suites on the same server, and everything is reset afterwards. An unreachable server skips the
module locally and fails it when ``CI`` is set, where it must run.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from emulator.postgres_local import (
    DEFAULT_SUPERUSER_DSN,
    install_shim,
    owner_connection,
    owner_role,
    prepare_postgres,
    reset_postgres,
)

Connection: TypeAlias = psycopg2.extensions.connection
SUPERUSER_DSN = os.environ.get("POSTGRES_SUPERUSER_DSN", DEFAULT_SUPERUSER_DSN)
CREATE = "SELECT * FROM pgaadauth_create_principal_with_oid(%s, %s, 'service', false, false)"
LIST = "SELECT * FROM pgaadauth_list_principals(%s)"

# Azure's documented signatures (learn.microsoft.com, "Manage Microsoft Entra roles in Azure
# Database for PostgreSQL", how-to-manage-azure-ad-users):
#   pgaadauth_create_principal_with_oid(roleName text, objectId text, objectType text,
#       isAdmin boolean, isMfa boolean) RETURNS text  -- 'Created role for <roleName>'
#   pgaadauth_list_principals(isAdminValue boolean) RETURNS TABLE(rolname name,
#       principalType text, objectId text, tenantId text, isMfa integer, isAdmin integer)
# Unquoted in Azure's DDL, hence lower-cased on the wire. A 2025 revision of the page spells
# the first column "rolename"; earlier revisions, and public scripts run against Azure, use
# "rolname", which the shim keeps. isMfa and isAdmin are integers (1/0), not booleans.
AZURE_CREATE_ARGS = "rolename text, objectid text, objecttype text, isadmin boolean, ismfa boolean"
AZURE_LIST_ARGS = "isadminvalue boolean"
AZURE_LIST_COLUMNS = ["rolname", "principaltype", "objectid", "tenantid", "ismfa", "isadmin"]

Connect = Callable[..., Connection]
pytestmark = pytest.mark.integration


# --- estates and connections ---------------------------------------------------------------------


def make_estate(token: str, *, tenant_id: str | None = None) -> dict[str, Any]:
    """A one-server estate whose names are unique to ``token``."""
    params = parse_dsn(SUPERUSER_DSN)
    server = {
        "name": f"pg-shim-{token}",
        "fqdn": params.get("host", "127.0.0.1"),
        "port": int(params.get("port", 5432)),
        "administrators": [
            {
                "object_id": str(uuid.uuid4()),
                "principal_name": f"shim-admin-{token}",
                "principal_type": "ServicePrincipal",
            }
        ],
        "databases": [f"shimdb_{token}"],
    }
    group = {"name": f"rg-shim-{token}", "postgres_servers": [server]}
    return {"tenant_id": tenant_id, "subscriptions": [{"id": str(uuid.uuid4()), "resource_groups": [group]}]}


def server_of(estate: dict[str, Any]) -> dict[str, Any]:
    server: dict[str, Any] = estate["subscriptions"][0]["resource_groups"][0]["postgres_servers"][0]
    return server


def admin_of(estate: dict[str, Any]) -> str:
    return str(server_of(estate)["administrators"][0]["principal_name"])


def database_of(estate: dict[str, Any]) -> str:
    return str(server_of(estate)["databases"][0])


@pytest.fixture(scope="module")
def superuser_dsn() -> str:
    try:
        psycopg2.connect(SUPERUSER_DSN, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        message = f"local PostgreSQL is unreachable ({SUPERUSER_DSN!r}): {str(exc).strip()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SUPERUSER_DSN


@pytest.fixture
def connect(superuser_dsn: str) -> Iterator[Connect]:
    """Opens autocommit connections as any role (the local server trusts 127.0.0.1)."""
    opened: list[Connection] = []

    def _connect(user: str = "postgres", database: str = "postgres") -> Connection:
        conn = psycopg2.connect(make_dsn(superuser_dsn, user=user, dbname=database))
        conn.autocommit = True
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()


@pytest.fixture(scope="module")
def estate(superuser_dsn: str) -> Iterator[dict[str, Any]]:
    """A prepared estate shared by this module's tests, reset when they are done."""
    estate = make_estate(secrets.token_hex(4), tenant_id=str(uuid.uuid4()))
    try:
        prepare_postgres(estate, superuser_dsn=superuser_dsn)
        yield estate
    finally:
        reset_postgres(estate, superuser_dsn=superuser_dsn)


@pytest.fixture(scope="module")
def canary(estate: dict[str, Any], superuser_dsn: str) -> Iterator[str]:
    """A schema with a table ``t`` in database postgres, where the shim's SQL runs."""
    schema = f"shimcanary_{secrets.token_hex(4)}"
    conn = psycopg2.connect(superuser_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            cur.execute(sql.SQL("CREATE TABLE {}.t (x int)").format(sql.Identifier(schema)))
        yield schema
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    finally:
        conn.close()


def _roles_containing(connect: Connect, token: str) -> list[str]:
    with connect().cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles WHERE strpos(rolname, %s) > 0", (token,))
        return [row[0] for row in cur.fetchall()]


def _list(connect: Connect, admin: str, *, admins_only: bool = False) -> list[tuple[Any, ...]]:
    with connect(admin).cursor() as cur:
        cur.execute(LIST, (admins_only,))
        return cur.fetchall()


def _listed(connect: Connect, admin: str, *, admins_only: bool = False) -> dict[str, tuple[Any, ...]]:
    return {row[0]: row for row in _list(connect, admin, admins_only=admins_only)}


def _create(connect: Connect, admin: str, name: str, object_id: str) -> str:
    with connect(admin).cursor() as cur:
        cur.execute(CREATE, (name, object_id))
        row = cur.fetchone()
    assert row is not None
    return str(row[0])


# --- Azure's signatures and who may call them ------------------------------------------------


def test_signatures_and_columns_match_azure(estate: dict[str, Any], connect: Connect) -> None:
    with connect().cursor() as cur:
        cur.execute(
            "SELECT pg_get_function_arguments(%s::regprocedure), pg_get_function_result(%s::regprocedure)",
            ("public.pgaadauth_create_principal_with_oid(text,text,text,boolean,boolean)",) * 2,
        )
        assert cur.fetchone() == (AZURE_CREATE_ARGS, "text")
        cur.execute("SELECT pg_get_function_arguments('public.pgaadauth_list_principals(boolean)'::regprocedure)")
        assert cur.fetchone() == (AZURE_LIST_ARGS,)
    with connect(admin_of(estate)).cursor() as cur:
        cur.execute(LIST, (False,))
        assert cur.description is not None
        assert [column.name for column in cur.description] == AZURE_LIST_COLUMNS


def test_functions_are_security_definer_with_pinned_search_path(estate: dict[str, Any], connect: Connect) -> None:
    with connect().cursor() as cur:
        cur.execute(
            """
            SELECT p.proname, p.prosecdef, p.proconfig, r.rolsuper,
                   has_function_privilege('public', p.oid, 'EXECUTE')
              FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
             WHERE p.pronamespace = 'public'::regnamespace AND starts_with(p.proname, 'pgaadauth')
             ORDER BY p.proname
            """
        )
        rows = cur.fetchall()
    assert [row[0] for row in rows] == ["pgaadauth_create_principal_with_oid", "pgaadauth_list_principals"]
    for _, definer, config, owner_is_superuser, public_may_execute in rows:
        assert (definer, owner_is_superuser, public_may_execute) == (True, True, False)
        assert config == ["search_path=pg_catalog, pg_temp"]


def test_a_principal_cannot_execute_the_functions(estate: dict[str, Any], connect: Connect) -> None:
    name = f"shim-nonadmin-{secrets.token_hex(4)}"
    _create(connect, admin_of(estate), name, str(uuid.uuid4()))
    with connect(name).cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(CREATE, (f"{name}-2", str(uuid.uuid4())))
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(LIST, (False,))
    assert _roles_containing(connect, f"{name}-2") == []


def test_only_administrators_hold_execute(estate: dict[str, Any], connect: Connect) -> None:
    with connect().cursor() as cur:
        cur.execute(
            "SELECT r.rolname FROM pg_proc p, aclexplode(p.proacl) a JOIN pg_roles r ON r.oid = a.grantee"
            " WHERE p.oid = 'public.pgaadauth_list_principals(boolean)'::regprocedure AND NOT r.rolsuper"
        )
        holders = {row[0] for row in cur.fetchall()}
    assert admin_of(estate) in holders
    assert owner_role(database_of(estate)) not in holders


# --- pgaadauth_create_principal_with_oid ----------------------------------------------------------


def _hostile_name(kind: str, token: str, *, canary: str, victim: str) -> str:
    """Names that break naive quoting; each carries ``token`` so it can be found exactly."""
    if kind == "63-bytes":
        name = f"長い名前-{token}-"
        return name + "x" * (63 - len(name.encode()))
    return {
        "double-quote": f'a"b-{token}',
        "injection": f"o'neil-{token}'); DROP TABLE {canary}.t;--",
        "quoted-injection": f'x{token}"; DROP ROLE "{victim}"; --',
        "unicode": f"Ünïcødé 名前 🚀 {token}",
        "case-and-spaces": f"  Web App {token} ",
    }[kind]


@pytest.mark.parametrize(
    "kind", ["double-quote", "injection", "quoted-injection", "unicode", "case-and-spaces", "63-bytes"]
)
def test_hostile_name_creates_exactly_that_role(
    kind: str, estate: dict[str, Any], canary: str, connect: Connect
) -> None:
    token = secrets.token_hex(4)
    victim = owner_role(database_of(estate))
    name = _hostile_name(kind, token, canary=canary, victim=victim)
    object_id = str(uuid.uuid4())
    assert len(name.encode()) <= 63

    assert _create(connect, admin_of(estate), name, object_id) == f"Created role for {name}"

    assert _roles_containing(connect, token) == [name]
    with connect().cursor() as cur:
        cur.execute(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
            (name,),
        )
        assert cur.fetchone() == (True, False, False, False)
        cur.execute(
            "SELECT to_regclass(%s) IS NOT NULL, to_regrole(%s) IS NOT NULL",
            (f"{canary}.t", sql.Identifier(victim).as_string(cur)),
        )
        assert cur.fetchone() == (True, True)
    assert _listed(connect, admin_of(estate))[name][1:3] == ("service", object_id)


def test_list_principals_returns_binding_tenant_and_admin_flag(estate: dict[str, Any], connect: Connect) -> None:
    admin = admin_of(estate)
    name = f"shim-listed-{secrets.token_hex(4)}"
    object_id = str(uuid.uuid4()).upper()
    _create(connect, admin, name, object_id)

    everyone = _listed(connect, admin)
    admins = _list(connect, admin, admins_only=True)

    tenant = estate["tenant_id"]
    assert everyone[name] == (name, "service", object_id.lower(), tenant, 0, 0)
    admin_object_id = server_of(estate)["administrators"][0]["object_id"]
    assert everyone[admin] == (admin, "service", admin_object_id, tenant, 0, 1)
    assert [row for row in admins if row[0] in (admin, name)] == [everyone[admin]]
    assert all(row[5] == 1 for row in admins)


def test_duplicate_create_fails_clearly(estate: dict[str, Any], connect: Connect) -> None:
    admin, owner = admin_of(estate), owner_role(database_of(estate))
    name = f"shim-dup-{secrets.token_hex(4)}"
    first = str(uuid.uuid4())
    _create(connect, admin, name, first)

    with pytest.raises(psycopg2.errors.DuplicateObject, match=f'role "{name}" already exists'):
        _create(connect, admin, name, str(uuid.uuid4()))
    with pytest.raises(psycopg2.errors.DuplicateObject, match="already exists"):
        _create(connect, admin, owner, str(uuid.uuid4()))

    assert _roles_containing(connect, name) == [name]
    listed = _listed(connect, admin)
    assert listed[name][2] == first
    assert owner not in listed


@pytest.mark.parametrize(
    "case",
    [
        ("x" * 56 + "{token}", str(uuid.uuid4()), "service", psycopg2.errors.NameTooLong),
        ("", str(uuid.uuid4()), "service", psycopg2.errors.InvalidParameterValue),
        ("shim-badoid-{token}", "not-a-guid", "service", psycopg2.errors.InvalidParameterValue),
        ("shim-badtype-{token}", str(uuid.uuid4()), "robot", psycopg2.errors.InvalidParameterValue),
    ],
    ids=["64-bytes", "empty", "bad-object-id", "bad-type"],
)
def test_invalid_arguments_are_rejected_without_creating(
    case: tuple[str, str, str, type[Exception]], estate: dict[str, Any], connect: Connect
) -> None:
    name, object_id, object_type, error = case
    token = secrets.token_hex(4)
    name = name.replace("{token}", token)
    with connect(admin_of(estate)).cursor() as cur, pytest.raises(error, match="pgaadauth_create_principal_with_oid"):
        cur.execute(
            "SELECT pgaadauth_create_principal_with_oid(%s, %s, %s, false, false)", (name, object_id, object_type)
        )
    if name:
        assert _roles_containing(connect, token) == []


def test_dropped_role_disappears_and_the_name_can_be_bound_again(estate: dict[str, Any], connect: Connect) -> None:
    admin = admin_of(estate)
    name = f'shim-drop-"{secrets.token_hex(4)}'
    _create(connect, admin, name, str(uuid.uuid4()))
    with connect(admin).cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    assert name not in _listed(connect, admin)

    rebound = str(uuid.uuid4())
    _create(connect, admin, name, rebound)
    assert [row[2] for row in _list(connect, admin) if row[0] == name] == [rebound]


# --- the local estate -------------------------------------------------------------------------------


def test_prepare_is_idempotent_and_sets_up_least_privilege(
    estate: dict[str, Any], superuser_dsn: str, connect: Connect
) -> None:
    admin, database = admin_of(estate), database_of(estate)
    owner = owner_role(database)
    kept = f"shim-kept-{secrets.token_hex(4)}"
    _create(connect, admin, kept, str(uuid.uuid4()))

    prepare_postgres(estate, superuser_dsn=superuser_dsn)
    prepare_postgres(estate, superuser_dsn=superuser_dsn)

    with connect().cursor() as cur:
        cur.execute("SELECT rolcanlogin, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = %s", (admin,))
        assert cur.fetchone() == (True, False, True)
        cur.execute(
            "SELECT rolcanlogin, pg_has_role(%s, oid, 'MEMBER') FROM pg_roles WHERE rolname = %s",
            (admin, owner),
        )
        assert cur.fetchone() == (False, True)
        cur.execute(
            """
            SELECT pg_get_userbyid(datdba), has_database_privilege('public', oid, 'CONNECT'),
                   has_database_privilege('public', oid, 'TEMPORARY')
              FROM pg_database WHERE datname = %s
            """,
            (database,),
        )
        assert cur.fetchone() == (owner, False, False)
    with connect(database=database).cursor() as cur:
        cur.execute(
            "SELECT pg_get_userbyid(nspowner), has_schema_privilege('public', oid, 'CREATE')"
            " FROM pg_namespace WHERE nspname = 'public'"
        )
        assert cur.fetchone() == (owner, False)
    assert _roles_containing(connect, kept) == [kept]
    assert [row[0] for row in _list(connect, admin, admins_only=True)].count(admin) == 1


def test_concurrent_installs_and_prepares_all_succeed(superuser_dsn: str, connect: Connect) -> None:
    estates = [make_estate(secrets.token_hex(4)) for _ in range(3)]
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            jobs = [pool.submit(install_shim, superuser_dsn=superuser_dsn) for _ in range(3)]
            jobs += [pool.submit(prepare_postgres, estate, superuser_dsn=superuser_dsn) for estate in estates]
            for job in jobs:
                job.result()
        for estate in estates:
            assert _listed(connect, admin_of(estate), admins_only=True)[admin_of(estate)][5] == 1
    finally:
        for estate in estates:
            reset_postgres(estate, superuser_dsn=superuser_dsn)
    assert all(_roles_containing(connect, admin_of(estate)) == [] for estate in estates)


def test_prepare_refuses_a_superuser_as_administrator(superuser_dsn: str, connect: Connect) -> None:
    estate = make_estate(secrets.token_hex(4))
    server_of(estate)["administrators"][0]["principal_name"] = "postgres"
    server_of(estate)["databases"] = []
    with pytest.raises(ValueError, match="superuser"):
        prepare_postgres(estate, superuser_dsn=superuser_dsn)
    with connect().cursor() as cur:
        cur.execute("SELECT rolsuper, rolcanlogin FROM pg_roles WHERE rolname = 'postgres'")
        assert cur.fetchone() == (True, True)


def test_principal_reaches_only_what_is_granted(estate: dict[str, Any], connect: Connect) -> None:
    admin, database = admin_of(estate), database_of(estate)
    owner = sql.Identifier(owner_role(database))
    name = f"shim-app-{secrets.token_hex(4)}"
    table_name = f"orders_{secrets.token_hex(4)}"
    table = sql.Identifier(table_name)
    principal = sql.Identifier(name)
    _create(connect, admin, name, str(uuid.uuid4()))
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        connect(name, database)

    with owner_connection(server_of(estate), database) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE TABLE {} (id int)").format(table))
        cur.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass", (table_name,))
        assert cur.fetchone() == (owner_role(database),)
    with connect(admin, database).cursor() as cur:
        cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), principal))
        cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table, principal))
        cur.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT SELECT ON TABLES TO {}").format(
                owner, principal
            )
        )

    with connect(name, database).cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
        assert cur.fetchone() == (0,)
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(table))
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("CREATE TABLE public.intruder (x int)")


def test_reset_removes_everything_it_made(
    superuser_dsn: str, estate: dict[str, Any], canary: str, connect: Connect
) -> None:
    token = secrets.token_hex(4)
    doomed = make_estate(token)
    admin, database = admin_of(doomed), database_of(doomed)
    try:
        prepare_postgres(doomed, superuser_dsn=superuser_dsn)
        principals = [f'o\'neil "{token}"; DROP ROLE x;--', f"app-{token}"]
        for name in principals:
            _create(connect, admin, name, str(uuid.uuid4()))
        bystander = f"shim-bystander-{secrets.token_hex(4)}"
        _create(connect, admin_of(estate), bystander, str(uuid.uuid4()))

        # Leave what reset must cope with: privileges in the estate's database, in another
        # database, on a shared object (that database) and in database postgres, default
        # privileges, and an open connection.
        with owner_connection(server_of(doomed), database) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE t (x int)")
            for name in principals:
                cur.execute(sql.SQL("GRANT SELECT ON t TO {}").format(sql.Identifier(name)))
                cur.execute(
                    sql.SQL("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {}").format(sql.Identifier(name))
                )
        with owner_connection(server_of(estate), database_of(estate)) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(f"elsewhere_{token}")))
            for name in principals:
                cur.execute(
                    sql.SQL("GRANT SELECT ON {} TO {}").format(
                        sql.Identifier(f"elsewhere_{token}"), sql.Identifier(name)
                    )
                )
        with connect().cursor() as cur:
            for name in principals:
                cur.execute(
                    sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                        sql.Identifier(database_of(estate)), sql.Identifier(name)
                    )
                )
                cur.execute(sql.SQL("GRANT SELECT ON {}.t TO {}").format(sql.Identifier(canary), sql.Identifier(name)))
        connect(admin, database)
    finally:
        reset_postgres(doomed, superuser_dsn=superuser_dsn)
    reset_postgres(doomed, superuser_dsn=superuser_dsn)  # nothing left to drop: no error

    assert _roles_containing(connect, token) == []
    with connect().cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (database,))
        assert cur.fetchone() == (0,)
        cur.execute("SELECT count(*) FROM pgaadauth_shim.principals WHERE strpos(role_name, %s) > 0", (token,))
        assert cur.fetchone() == (0,)
    assert _roles_containing(connect, bystander) == [bystander]
    assert bystander in _listed(connect, admin_of(estate))
    with connect(database=database_of(estate)).cursor() as cur:  # only the grants went
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"elsewhere_{token}",))
        assert cur.fetchone() == (True,)
