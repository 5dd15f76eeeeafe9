"""The Azure SQL slice end to end: the real Reconciler and ARM adapters against the emulator, and a
recording DB-API connection (``tests.sql_fake``) standing in for the database, which does not exist here."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from provisioning.azure.credentials import default_credential
from provisioning.azure.identities import Identities
from provisioning.azure.identity_holders import IdentityHolders
from provisioning.azure.locks import AppLocks
from provisioning.azure.role_assignments import RoleAssignments
from provisioning.azure.servers import Servers
from provisioning.azure.webapps import WebApps
from provisioning.catalog import catalog_from_document
from provisioning.config import Config
from provisioning.engines.mssql import SNAPSHOT, SqlSession, connection_string
from provisioning.errors import TransientError
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
from provisioning.reconciler import Mode, Reconciler
from provisioning.resource_ids import AppRef, parse_app_id
from tests.estates import APPS_GROUP, FUNCTION_OBJECT_ID, SUBSCRIPTION, build_catalog, sql_server
from tests.sql_fake import FakeSqlServer, OperationalError, error

pytestmark = pytest.mark.integration
ARM_WRITES = {"PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def sql_environment(
    emulator: Any, azurite: str, estate: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Config]:
    """A function app's settings pointed at the emulator; no database server is needed for SQL."""
    catalog = tmp_path_factory.mktemp("sql-catalog") / "catalog.json"
    catalog.write_text(json.dumps(build_catalog(estate)), encoding="utf-8")
    settings = dict(emulator.environment()) | {
        "PASSWORDLESS_CATALOG": str(catalog),
        "PASSWORDLESS_FUNCTION_OBJECT_ID": FUNCTION_OBJECT_ID,
        "PASSWORDLESS_SUBSCRIPTIONS": SUBSCRIPTION,
        "AzureWebJobsStorage": azurite,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings.items():
            patch.setenv(name, value)
        yield Config.from_environment()


@pytest.fixture
def database() -> FakeSqlServer:
    return FakeSqlServer(["sales"])


def reconciler_for(config: Config, database: FakeSqlServer, document: dict[str, Any]) -> Reconciler:
    """The composition ``build_runtime`` makes, with the recording connection as the SQL driver."""
    credential = default_credential()

    def open_session(engine: Engine, server: ServerInfo, login: str) -> SqlSession:
        assert engine is Engine.SQL
        return SqlSession(server, login, database.connect)

    identities = Identities(credential, config)
    return Reconciler(
        catalog_from_document(document),
        webapps=WebApps(credential, config),
        identities=identities,
        identity_holders=IdentityHolders(credential, config, identities),
        servers=Servers(credential, config),
        open_session=open_session,
        locks=AppLocks(credential, config),
        function_object_id=config.function_object_id,
        tag_prefix=config.tag_prefix,
        roles=RoleAssignments(credential, config),
    )


@pytest.fixture
def reconciler(sql_environment: Config, database: FakeSqlServer, estate: dict[str, Any]) -> Reconciler:
    return reconciler_for(sql_environment, database, build_catalog(estate))


def new_app(emulator: Any, tag: str, *, name: str | None = None, settings: dict[str, str] | None = None) -> AppRef:
    site_id = emulator.create_site(
        SUBSCRIPTION,
        APPS_GROUP,
        name or f"app-{uuid.uuid4().hex[:10]}",
        tags={"passwordless": tag},
        app_settings=settings or {},
    )
    return parse_app_id(site_id)


def sid_of(client_id: str) -> str:
    return "0x" + uuid.UUID(client_id).bytes_le.hex().upper()


def quoted(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def bound_client_id(database: FakeSqlServer, name: str) -> str:
    return database.databases["sales"].users[name.lower()].sid


def test_first_apply_runs_exactly_the_planned_tsql_and_converges(
    emulator: Any, reconciler: Reconciler, database: FakeSqlServer, estate: dict[str, Any]
) -> None:
    app = new_app(emulator, "sales:writer", settings={"EXISTING": "keep-me"})
    result = reconciler.reconcile_app(app)

    assert result is not None and result.applied
    assert [type(s) for s in result.plan.steps] == [
        EnableSystemIdentity,
        CreatePrincipal,
        GrantPrivileges,
        SetAppSettings,
    ]
    identity = emulator.identity_of(app.id)
    name = quoted(principal_name(app, Engine.SQL))
    assert database.writes() == [
        f"CREATE USER {name} WITH SID = {sid_of(identity[1])}, TYPE = E",
        f"GRANT CONNECT TO {name}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON SCHEMA::[dbo] TO {name}",
    ]
    assert [s for step in result.plan.steps for s in getattr(step, "sql", ())] == database.writes()
    assert bound_client_id(database, principal_name(app, Engine.SQL)) == identity[1].lower()
    fqdn = f"{sql_server(estate)['name']}.database.windows.net"
    assert set(database.connection_strings) == {connection_string(fqdn, "sales", TlsMode.REQUIRE)}
    settings = emulator.app_settings(app.id)
    assert settings["EXISTING"] == "keep-me"
    assert (settings["AZURE_SQL_SERVER"], settings["AZURE_SQL_DATABASE"]) == (fqdn, "sales")
    assert settings["AZURE_SQL_AUTHENTICATION"] == "ActiveDirectoryMsi"
    assert reconciler.reconcile_app(app, Mode.PLAN).plan.empty  # type: ignore[union-attr]


def test_a_noop_reconcile_executes_no_writes(emulator: Any, reconciler: Reconciler, database: FakeSqlServer) -> None:
    app = new_app(emulator, "sales:reader")
    reconciler.reconcile_app(app)
    database.clear()
    emulator.clear_requests()

    again = reconciler.reconcile_app(app)

    assert again is not None and again.plan.empty and not again.applied
    assert again.database_writes == 0 and database.writes() == []
    assert [e.sql for e in database.executed] == [SNAPSHOT]  # one catalog query for the database
    assert [r for r in emulator.requests if r.method in ARM_WRITES] == []


def test_walking_writer_down_to_reader_revokes_exactly_the_excess(
    emulator: Any, reconciler: Reconciler, database: FakeSqlServer
) -> None:
    app = new_app(emulator, "sales:writer")
    reconciler.reconcile_app(app)
    emulator.set_tags(app.id, {"passwordless": "sales:reader"})
    database.clear()

    down = reconciler.reconcile_app(app)

    assert down is not None and [type(s) for s in down.plan.steps] == [RevokePrivileges]
    name = quoted(principal_name(app, Engine.SQL))
    assert database.writes() == [f"REVOKE INSERT, UPDATE, DELETE ON SCHEMA::[dbo] FROM {name}"]
    assert database.databases["sales"].grants[principal_name(app, Engine.SQL)] == {(None, "CONNECT"), ("dbo", "SELECT")}


def test_a_stale_binding_is_rebound_to_the_new_client_id(
    emulator: Any, reconciler: Reconciler, database: FakeSqlServer
) -> None:
    app = new_app(emulator, "sales:reader")
    reconciler.reconcile_app(app)
    name = principal_name(app, Engine.SQL)
    old_client_id = bound_client_id(database, name)
    emulator.recreate_system_identity(app.id)

    planned = reconciler.reconcile_app(app, Mode.PLAN)
    assert planned is not None
    rebind = planned.plan.steps[0]
    assert isinstance(rebind, RebindPrincipal) and rebind.old_binding == old_client_id
    database.clear()
    reconciler.reconcile_app(app)

    new_client_id = emulator.identity_of(app.id)[1].lower()
    assert new_client_id != old_client_id and bound_client_id(database, name) == new_client_id
    assert database.writes() == [
        f"DROP USER {quoted(name)}",
        f"CREATE USER {quoted(name)} WITH SID = {sid_of(new_client_id)}, TYPE = E",
        f"GRANT CONNECT TO {quoted(name)}",
        f"GRANT SELECT ON SCHEMA::[dbo] TO {quoted(name)}",
    ]


def test_a_role_membership_added_by_hand_is_excess_and_dropped(
    emulator: Any, reconciler: Reconciler, database: FakeSqlServer
) -> None:
    app = new_app(emulator, "sales:reader")
    reconciler.reconcile_app(app)
    name = quoted(principal_name(app, Engine.SQL))
    database.run_as_admin("sales", f"ALTER ROLE [db_datawriter] ADD MEMBER {name}")

    fixed = reconciler.reconcile_app(app)

    assert fixed is not None
    revoke = fixed.plan.steps[0]
    assert isinstance(revoke, RevokePrivileges) and revoke.grants == (Grant("role", ("db_datawriter",), "MEMBER"),)
    assert database.writes()[-1] == f"ALTER ROLE [db_datawriter] DROP MEMBER {name}"
    assert database.databases["sales"].members[principal_name(app, Engine.SQL)] == set()


def test_a_hostile_site_name_is_one_correctly_quoted_user(
    emulator: Any, reconciler: Reconciler, database: FakeSqlServer
) -> None:
    app = new_app(emulator, "sales:reader", name="o'neil]\"; DROP TABLE t;--" + uuid.uuid4().hex[:4])
    reconciler.reconcile_app(app)
    name = principal_name(app, Engine.SQL)

    assert list(database.databases["sales"].users) == [name.lower()]
    assert database.writes()[0].startswith(f"CREATE USER [{name.replace(']', ']]')}] WITH SID = 0x")
    assert reconciler.reconcile_app(app, Mode.PLAN).plan.empty  # type: ignore[union-attr]


def test_a_dropped_connection_rolls_its_step_back_and_a_rerun_converges(
    emulator: Any, reconciler: Reconciler, database: FakeSqlServer
) -> None:
    app = new_app(emulator, "sales:writer")
    database.fail_on = ("ON SCHEMA::", error(OperationalError, 10054, "TCP Provider: reset", state="08S01"))

    with pytest.raises(TransientError, match="reset"):
        reconciler.reconcile_app(app)
    name = principal_name(app, Engine.SQL)
    assert database.databases["sales"].grants[name] == {(None, "CONNECT")}  # the user committed, no grant did
    assert database.rollbacks >= 1

    again = reconciler.reconcile_app(app)
    assert again is not None and again.applied
    assert [type(s) for s in again.plan.steps] == [GrantPrivileges, SetAppSettings]


def test_plan_mode_runs_no_tsql(emulator: Any, reconciler: Reconciler, database: FakeSqlServer) -> None:
    app = new_app(emulator, "sales:reader")
    planned = reconciler.reconcile_app(app, Mode.PLAN)

    assert planned is not None and not planned.applied and len(planned.plan.steps) == 4
    assert database.writes() == [] and database.databases["sales"].users == {}


def test_the_object_id_form_converges(emulator: Any, sql_environment: Config, estate: dict[str, Any]) -> None:
    app = new_app(emulator, "sales:reader")
    document = build_catalog(estate)
    for entry in document["targets"]:
        if entry["name"] == "sales":
            entry["sql_binding"] = "object_id"

    def directory(object_id: str) -> str | None:
        identity = emulator.identity_of(app.id)
        return identity[1] if identity and identity[0].lower() == object_id.lower() else None

    database = FakeSqlServer(["sales"], directory)
    result = reconciler_for(sql_environment, database, document).reconcile_app(app)

    assert result is not None and result.applied
    object_id, client_id = emulator.identity_of(app.id)
    name = principal_name(app, Engine.SQL)
    assert database.writes()[0] == f"CREATE USER {quoted(name)} FROM EXTERNAL PROVIDER WITH OBJECT_ID = '{object_id}'"
    assert bound_client_id(database, name) == client_id
