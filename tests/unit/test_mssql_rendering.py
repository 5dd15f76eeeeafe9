"""Azure SQL without a SQL Server: the exact T-SQL per step, a T-SQL grammar parse of every statement,
the connection the driver would get, and how driver errors reach the core."""

from __future__ import annotations

import struct
import sys
import types
import uuid
from typing import Any

import pytest

from provisioning.engines.dialects import dialect_for
from provisioning.engines.mssql import (
    LOCK_PRINCIPAL,
    SNAPSHOT,
    SqlSession,
    access_token_attribute,
    connection_string,
    odbc_connect,
    quote_identifier,
    quote_literal,
    sid_literal,
)
from provisioning.errors import PermanentError, TransientError
from provisioning.models import (
    BindingKind,
    DatabaseState,
    Engine,
    Grant,
    Privilege,
    RoleProfile,
    ServerInfo,
    SqlBinding,
    Target,
    TlsMode,
)
from provisioning.plan import (
    BINDING_PLACEHOLDER,
    CreatePrincipal,
    DatabaseStep,
    DropPrincipal,
    GrantPrivileges,
    RebindPrincipal,
    RevokePrivileges,
)
from provisioning.resource_ids import parse_resource_id
from tests.sql_fake import FakeSqlServer, InterfaceError, OperationalError, ProgrammingError, User, error
from tests.tsql_grammar import TsqlParseError, one_statement, parse, quoted_identifiers

SERVER_ID = parse_resource_id("/subscriptions/s/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-sales")
SERVER = ServerInfo(SERVER_ID, "sql-sales.database.windows.net", ())
# "Constants (Transact-SQL)": '6F9619FF-8B86-D011-B42D-00C04FC964FF' is 0xff19966f868b11d0b42d00c04fc964ff.
DOCUMENTED_GUID = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
DOCUMENTED_BINARY = "0xFF19966F868B11D0B42D00C04FC964FF"
CLIENT_ID = DOCUMENTED_GUID.lower()
OLD_CLIENT_ID = "11111111-2222-4333-8444-555555555555"
OBJECT_ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
HOSTILE = ['a"b', "a]b", "a`b", "o'neil; DROP TABLE t;--", "ünïcødé-名前", "]", "[x", "a]]b"]


def target(*, binding: SqlBinding = SqlBinding.SID, schemas: tuple[str, ...] = ("dbo",)) -> Target:
    return Target(
        name="sales",
        engine=Engine.SQL,
        server=SERVER_ID,
        database="sales",
        schemas=schemas,
        roles=frozenset({"reader", "writer", "ddl"}),
        allowed_sources=("/subscriptions/s",),
        sql_binding=binding,
    )


def grants_of(profile: frozenset[Privilege], sql_target: Target) -> tuple[Grant, ...]:
    empty = DatabaseState(principal=None, grants=frozenset())
    return tuple(sorted(dialect_for(sql_target.engine).expected_grants(sql_target, RoleProfile("p", profile), empty)))


WRITER = frozenset({Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE, Privilege.DELETE})
DDL = WRITER | {Privilege.CREATE}
EXCESS = (
    Grant("database", ("sales",), "CONTROL"),
    Grant("database", ("sales",), "ALTER ANY USER"),
    Grant("schema", ("dbo",), "DELETE"),
    Grant("schema", ("dbo",), "INSERT"),
    Grant("schema", ("dbo",), "UPDATE"),
    Grant("role", ("db_owner",), "MEMBER"),
    Grant("role", ("db_datawriter",), "MEMBER"),
)
CREATE_SID = f"CREATE USER [shop-web] WITH SID = {DOCUMENTED_BINARY}, TYPE = E"
CREATE_OID = f"CREATE USER [shop-web] FROM EXTERNAL PROVIDER WITH OBJECT_ID = '{OBJECT_ID}'"

# (id, step, target, exact statements)
CASES: list[tuple[str, DatabaseStep, Target, tuple[str, ...]]] = [
    ("create-sid", CreatePrincipal("sales", "shop-web", CLIENT_ID, BindingKind.CLIENT_ID), target(), (CREATE_SID,)),
    (
        "create-object-id",
        CreatePrincipal("sales", "shop-web", CLIENT_ID, BindingKind.CLIENT_ID, object_id=OBJECT_ID.upper()),
        target(binding=SqlBinding.OBJECT_ID),
        (CREATE_OID,),
    ),
    (
        "rebind-sid",
        RebindPrincipal("sales", "shop-web", OLD_CLIENT_ID, CLIENT_ID, BindingKind.CLIENT_ID),
        target(),
        ("DROP USER [shop-web]", CREATE_SID),
    ),
    (
        "rebind-object-id",
        RebindPrincipal("sales", "shop-web", OLD_CLIENT_ID, CLIENT_ID, BindingKind.CLIENT_ID, object_id=OBJECT_ID),
        target(binding=SqlBinding.OBJECT_ID),
        ("DROP USER [shop-web]", CREATE_OID),
    ),
    ("drop", DropPrincipal("sales", "shop-web"), target(), ("DROP USER [shop-web]",)),
    (
        "grant-writer",
        GrantPrivileges("sales", "shop-web", grants_of(WRITER, target())),
        target(),
        ("GRANT CONNECT TO [shop-web]", "GRANT SELECT, INSERT, UPDATE, DELETE ON SCHEMA::[dbo] TO [shop-web]"),
    ),
    (
        "grant-ddl-two-schemas",
        GrantPrivileges("sales", "shop-web", grants_of(DDL, target(schemas=("dbo", "reporting")))),
        target(schemas=("dbo", "reporting")),
        (
            "GRANT CONNECT, CREATE TABLE, CREATE VIEW TO [shop-web]",
            "GRANT SELECT, INSERT, UPDATE, DELETE, ALTER ON SCHEMA::[dbo] TO [shop-web]",
            "GRANT SELECT, INSERT, UPDATE, DELETE, ALTER ON SCHEMA::[reporting] TO [shop-web]",
        ),
    ),
    (
        "revoke-excess-and-roles",
        RevokePrivileges("sales", "shop-web", EXCESS),
        target(),
        (
            "REVOKE CONTROL, ALTER ANY USER FROM [shop-web]",
            "REVOKE INSERT, UPDATE, DELETE ON SCHEMA::[dbo] FROM [shop-web]",
            "ALTER ROLE [db_datawriter] DROP MEMBER [shop-web]",
            "ALTER ROLE [db_owner] DROP MEMBER [shop-web]",
        ),
    ),
    (
        "grant-role",
        GrantPrivileges("sales", "shop-web", (Grant("role", ("db_datareader",), "MEMBER"),)),
        target(),
        ("ALTER ROLE [db_datareader] ADD MEMBER [shop-web]",),
    ),
]


def session(server: FakeSqlServer | None = None) -> SqlSession:
    return SqlSession(SERVER, "passwordless-func", (server or FakeSqlServer(["sales"])).connect)


@pytest.mark.parametrize(("step", "sql_target", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_step_renders_exactly(step: DatabaseStep, sql_target: Target, expected: tuple[str, ...]) -> None:
    assert session().render(step, sql_target) == expected


@pytest.mark.parametrize("statement", sorted({s for c in CASES for s in c[3]}))
def test_every_rendered_statement_is_one_valid_tsql_statement(statement: str) -> None:
    kind = one_statement(statement)
    assert (
        kind
        == {
            "CREATE": "create_user_statement",
            "DROP": "drop_user_statement",
            "GRANT": "grant_statement",
            "REVOKE": "revoke_statement",
            "ALTER": "alter_role_statement",
        }[statement.split(maxsplit=1)[0]]
    )


def test_the_sid_is_the_client_id_in_the_documented_uniqueidentifier_byte_order() -> None:
    assert sid_literal(DOCUMENTED_GUID) == DOCUMENTED_BINARY
    assert sid_literal(CLIENT_ID) == "0x" + uuid.UUID(CLIENT_ID).bytes_le.hex().upper()
    assert sid_literal(CLIENT_ID) != "0x" + uuid.UUID(CLIENT_ID).hex.upper()  # not the textual order
    with pytest.raises(PermanentError, match="not an Entra id"):
        sid_literal("not-a-guid")


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_stay_one_identifier_in_every_statement(name: str) -> None:
    quoted = "[" + name.replace("]", "]]") + "]"
    assert quote_identifier(name) == quoted
    hostile = target(schemas=(name,))
    statements = [
        *session().render(CreatePrincipal("sales", name, CLIENT_ID, BindingKind.CLIENT_ID), hostile),
        *session().render(DropPrincipal("sales", name), hostile),
        *session().render(GrantPrivileges("sales", name, (Grant("schema", (name,), "SELECT"),)), hostile),
        *session().render(RevokePrivileges("sales", name, (Grant("role", (name,), "MEMBER"),)), hostile),
    ]
    assert statements == [
        f"CREATE USER {quoted} WITH SID = {DOCUMENTED_BINARY}, TYPE = E",
        f"DROP USER {quoted}",
        f"GRANT SELECT ON SCHEMA::{quoted} TO {quoted}",
        f"ALTER ROLE {quoted} DROP MEMBER {quoted}",
    ]
    for statement in statements:
        one_statement(statement)
        assert set(quoted_identifiers(statement)) == {quoted}


def test_names_are_limited_to_128_utf16_units_like_sysname() -> None:
    assert quote_identifier("a" * 128) == "[" + "a" * 128 + "]"
    assert quote_identifier("😀" * 64) == "[" + "😀" * 64 + "]"  # each is a surrogate pair: 128 units
    for too_long in ("a" * 129, "😀" * 65, ""):
        with pytest.raises(PermanentError, match="not a valid T-SQL identifier"):
            quote_identifier(too_long)
    with pytest.raises(PermanentError):
        session().render(DropPrincipal("sales", "a" * 129), target())


def test_string_literals_double_quotes() -> None:
    assert quote_literal("o'neil") == "'o''neil'"
    one_statement("CREATE USER [x] FROM EXTERNAL PROVIDER WITH OBJECT_ID = " + quote_literal("o'neil"))


def test_an_object_id_is_normalised_and_must_be_a_guid() -> None:
    oid_target = target(binding=SqlBinding.OBJECT_ID)
    step = CreatePrincipal("sales", "shop-web", CLIENT_ID, BindingKind.CLIENT_ID, "{" + OBJECT_ID.upper() + "}")
    assert session().render(step, oid_target) == (CREATE_OID,)
    with pytest.raises(PermanentError, match="not an Entra id"):
        session().render(CreatePrincipal("sales", "x", CLIENT_ID, BindingKind.CLIENT_ID, "x' OR 1=1 --"), oid_target)


def test_a_preview_shows_a_placeholder_and_apply_refuses_it() -> None:
    step = CreatePrincipal("sales", "shop-web", None, BindingKind.CLIENT_ID)
    assert session().render(step, target()) == (f"CREATE USER [shop-web] WITH SID = {BINDING_PLACEHOLDER}, TYPE = E",)
    oid_step = CreatePrincipal("sales", "shop-web", None, BindingKind.OBJECT_ID)
    assert session().render(oid_step, target(binding=SqlBinding.OBJECT_ID)) == (
        f"CREATE USER [shop-web] FROM EXTERNAL PROVIDER WITH OBJECT_ID = {BINDING_PLACEHOLDER}",
    )
    with pytest.raises(PermanentError, match="before its identity exists"):
        session().apply(step, target())


def test_only_allow_listed_privileges_and_known_securables_reach_sql() -> None:
    with pytest.raises(PermanentError, match=r"schema privilege\(s\) \['CREATE TABLE'\]"):
        session().render(GrantPrivileges("sales", "n", (Grant("schema", ("dbo",), "CREATE TABLE"),)), target())
    with pytest.raises(PermanentError, match="privilege"):
        session().render(
            GrantPrivileges("sales", "n", (Grant("database", ("sales",), "SELECT; DROP TABLE t"),)), target()
        )
    with pytest.raises(PermanentError, match="securable kind 'table'"):
        session().render(GrantPrivileges("sales", "n", (Grant("table", ("dbo", "t"), "SELECT"),)), target())


@pytest.mark.parametrize(
    "malformed",
    [
        "GRANT SELEC ON SCHEMA::[dbo] TO [n]",  # no such permission
        "CREATE USER [a]b] WITH SID = 0x00, TYPE = E",  # ']' not doubled
        "CREATE USER [n] WITH SID = 0x00, TYPE = Q",  # no such principal type
        "CREATE USER [n] WITH SID = 0x00 TYPE = E",  # missing comma
        "GRANT SELECT ON SCHEMA::[dbo] TO [n]; DROP TABLE t",  # two statements
    ],
)
def test_the_grammar_check_rejects_malformed_tsql(malformed: str) -> None:
    with pytest.raises(TsqlParseError):
        one_statement(malformed)


def test_the_catalog_read_and_the_lock_parse_with_their_parameters() -> None:
    assert parse(SNAPSHOT, placeholders=True) == ["declare_segment", "with_compound_statement"]
    assert parse(LOCK_PRINCIPAL, placeholders=True) == [
        "declare_segment",
        "execute_script_statement",
        "if_then_statement",
    ]
    assert SNAPSHOT.count("?") == 1 and LOCK_PRINCIPAL.count("?") == 1


# -- the connection --------------------------------------------------------------------------


def test_the_connection_string_names_no_credential() -> None:
    assert connection_string("sql-sales.database.windows.net", "sales", TlsMode.REQUIRE) == (
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:sql-sales.database.windows.net,1433;"
        "Database=sales;Encrypt=yes"
    )
    assert connection_string("h", "sales", TlsMode.DISABLE).endswith(";Encrypt=no")
    assert ";Database={a;b}}c};" in connection_string("h", "a;b}c", TlsMode.REQUIRE)


def test_the_token_is_utf16le_behind_its_length() -> None:
    assert access_token_attribute("eyJ") == struct.pack("<I6s", 6, "eyJ".encode("utf-16-le"))
    assert access_token_attribute("ab") == b"\x04\x00\x00\x00a\x00b\x00"


def test_the_production_factory_passes_the_token_as_a_preconnect_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    opened = FakeSqlServer(["sales"]).connect("Database=sales")

    def connect(connection_string: str, **kwargs: Any) -> Any:
        calls.append((connection_string, kwargs))
        return opened

    monkeypatch.setitem(sys.modules, "pyodbc", types.SimpleNamespace(connect=connect))
    text = connection_string("h", "sales", TlsMode.REQUIRE)

    assert odbc_connect(lambda: "eyJ-token")(text) is opened

    assert calls == [
        (text, {"attrs_before": {1256: access_token_attribute("eyJ-token")}, "autocommit": False, "timeout": 30})
    ]
    assert "token" not in calls[0][0] and "UID" not in text and "PWD" not in text and "Authentication" not in text


def test_without_unixodbc_the_factory_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyodbc", None)  # makes `import pyodbc` fail, as without libodbc.so.2
    with pytest.raises(PermanentError, match="unixODBC") as raised:
        session_with(odbc_connect(lambda: "eyJ-secret")).observe(target(), "shop-web")
    assert "eyJ-secret" not in str(raised.value)


def session_with(connect: Any) -> SqlSession:
    return SqlSession(SERVER, "passwordless-func", connect)


# -- observe, apply, errors ------------------------------------------------------------------


def test_observe_reads_binding_grants_in_scope_and_roles_in_one_query() -> None:
    server = FakeSqlServer(["sales"])
    server.databases["sales"].schemas.add("audit")
    for sql in (
        CREATE_SID,
        "GRANT SELECT ON SCHEMA::[dbo] TO [shop-web]",
        "GRANT SELECT ON SCHEMA::[audit] TO [shop-web]",
        "ALTER ROLE [db_owner] ADD MEMBER [shop-web]",
    ):
        server.run_as_admin("sales", sql)
    sql_session = session(server)

    state = sql_session.observe(target(schemas=("DBO",)), "shop-web")

    assert state.principal is not None and state.principal.binding == CLIENT_ID
    assert state.grants == {
        Grant("database", ("sales",), "CONNECT"),
        Grant("schema", ("DBO",), "SELECT"),  # the catalog's spelling; [audit] is outside the scope
        Grant("role", ("db_owner",), "MEMBER"),
    }
    assert dict(sql_session.catalog_queries) == {"sales": 1}
    assert [e.sql for e in server.executed] == [SNAPSHOT] and server.rollbacks == 1
    assert server.connection_strings == [connection_string(SERVER.fqdn, "sales", TlsMode.REQUIRE)]


def test_a_snapshot_reads_every_user_of_the_database_in_one_query() -> None:
    server = FakeSqlServer(["sales"])
    for sql in (
        CREATE_SID,
        "GRANT SELECT ON SCHEMA::[dbo] TO [shop-web]",
        f"CREATE USER [auditors] WITH SID = {sid_literal(OBJECT_ID)}, TYPE = X",
        "ALTER ROLE [db_datareader] ADD MEMBER [auditors]",
    ):
        server.run_as_admin("sales", sql)
    server.databases["sales"].users["legacy"] = User("S", OLD_CLIENT_ID)
    sql_session = session(server)

    snapshot = sql_session.snapshot(target())

    assert snapshot.principals == {"shop-web": CLIENT_ID, "auditors": OBJECT_ID, "legacy": None}
    assert snapshot.grants == {
        "shop-web": {Grant("database", ("sales",), "CONNECT"), Grant("schema", ("dbo",), "SELECT")},
        "auditors": {Grant("database", ("sales",), "CONNECT"), Grant("role", ("db_datareader",), "MEMBER")},
    }
    assert [(e.sql, e.params) for e in server.executed] == [(SNAPSHOT, (None,))]
    assert dict(sql_session.catalog_queries) == {"sales": 1}


def test_a_user_not_bound_to_entra_is_observed_without_binding() -> None:
    server = FakeSqlServer(["sales"])
    server.databases["sales"].users["legacy"] = User("S", OLD_CLIENT_ID)
    state = session(server).observe(target(), "legacy")
    assert state.principal is not None and state.principal.binding is None
    assert session(server).observe(target(), "nobody").principal is None


def test_each_step_is_one_transaction_under_the_principal_lock() -> None:
    server = FakeSqlServer(["sales"])
    sql_session = session(server)
    sql_session.apply(CreatePrincipal("sales", "shop-web", CLIENT_ID, BindingKind.CLIENT_ID), target())
    sql_session.apply(GrantPrivileges("sales", "shop-web", grants_of(WRITER, target())), target())

    assert [(e.sql, e.params) for e in server.executed] == [
        (LOCK_PRINCIPAL, ("passwordless:shop-web",)),
        (CREATE_SID, ()),
        (LOCK_PRINCIPAL, ("passwordless:shop-web",)),
        ("GRANT CONNECT TO [shop-web]", ()),
        ("GRANT SELECT, INSERT, UPDATE, DELETE ON SCHEMA::[dbo] TO [shop-web]", ()),
    ]
    assert (server.commits, sql_session.writes) == (2, 3)


def test_a_failed_statement_rolls_the_whole_step_back() -> None:
    server = FakeSqlServer(["sales"])
    server.run_as_admin("sales", CREATE_SID)
    server.fail_on = ("ON SCHEMA", error(OperationalError, 10054, "TCP Provider: connection reset", state="08S01"))
    sql_session = session(server)

    sql_session.apply(RevokePrivileges("sales", "shop-web", (Grant("database", ("sales",), "CONNECT"),)), target())
    with pytest.raises(TransientError, match="connection reset"):
        sql_session.apply(GrantPrivileges("sales", "shop-web", grants_of(WRITER, target())), target())

    assert server.databases["sales"].grants["shop-web"] == set()  # the revoke committed, the grant did not
    assert server.rollbacks == 1 and sql_session.writes == 1


@pytest.mark.parametrize(
    ("raised", "expected", "text"),
    [
        (
            error(InterfaceError, 18456, "Login failed for user '<token-identified principal>'.", state="28000"),
            PermanentError,
            "login refused",
        ),
        (error(ProgrammingError, 229, "The SELECT permission was denied."), PermanentError, "permission denied"),
        (error(ProgrammingError, 40613, "Database 'sales' is not currently available."), TransientError, "40613"),
        (error(OperationalError, 0, "Communication link failure", state="08S01"), TransientError, "Communication"),
        (error(ProgrammingError, 4060, 'Cannot open database "sales".'), PermanentError, "Cannot open database"),
        (error(ProgrammingError, 51000, "another apply holds the lock on this principal"), TransientError, "lock"),
    ],
)
def test_driver_errors_become_permanent_or_transient(raised: Exception, expected: type[Exception], text: str) -> None:
    def refuse(_: str) -> Any:
        raise raised

    with pytest.raises(expected, match=text) as caught:
        session_with(refuse).observe(target(), "shop-web")
    assert caught.value.__cause__ is raised


def test_errors_that_are_not_from_the_driver_pass_unchanged() -> None:
    def broken(_: str) -> Any:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        session_with(broken).observe(target(), "shop-web")
