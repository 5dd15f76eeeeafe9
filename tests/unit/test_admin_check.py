"""The function must already be an Entra admin; it never takes the role, it says how to grant it."""

from __future__ import annotations

import pytest

from provisioning.admins import admin_login
from provisioning.catalog import catalog_from_document
from provisioning.errors import AdminMissing, LoginRefused
from provisioning.models import Administrator, Catalog, DatabaseState, Engine, ServerInfo, Target
from provisioning.resource_ids import ResourceId, parse_resource_id
from provisioning.sessions import DatabaseAccess
from tests.factories import SERVER_ID, catalog

SELF = "5f0c1a7e-0000-4000-8000-00000000f001"
GROUP = "9a0f0000-0000-4000-8000-00000000a001"
SQL_ID = "/subscriptions/s/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-sales"
ADMIN = Administrator(SELF, "passwordless-func")


def login(with_catalog: Catalog, found: ServerInfo) -> str:
    engine = Engine.SQL if found.id.full_type == "microsoft.sql/servers" else Engine.POSTGRES
    return admin_login(engine, found, function_object_id=SELF, group=with_catalog.admin_group)


def server(rid: str, *admins: Administrator) -> ServerInfo:
    return ServerInfo(parse_resource_id(rid), "host", admins)


def test_the_function_itself_or_its_group_is_accepted() -> None:
    assert login(catalog(), server(SERVER_ID, Administrator(SELF, "passwordless-func"))) == ("passwordless-func")
    grouped = catalog_from_document({**_doc(), "admin_group": {"object_id": GROUP.upper(), "name": "db-admins"}})
    assert login(grouped, server(SQL_ID, Administrator(GROUP, "db-admins"))) == "db-admins"


def test_postgres_missing_admin_names_the_command_that_adds_it() -> None:
    with pytest.raises(AdminMissing) as caught:
        login(catalog(), server(SERVER_ID, Administrator("someone-else", "alice")))
    message = str(caught.value)
    assert "az postgres flexible-server microsoft-entra-admin create" in message
    assert "--server-name pg-orders" in message and f"--object-id {SELF}" in message
    assert "existing administrators are kept" in message


def test_single_admin_servers_are_never_taken_over() -> None:
    with pytest.raises(AdminMissing) as caught:
        login(catalog(), server(SQL_ID, Administrator("someone-else", "dba-team")))
    assert "dba-team" in str(caught.value) and "never replaced" in str(caught.value)
    assert "ad-admin create" not in str(caught.value)
    with pytest.raises(AdminMissing, match="az sql server ad-admin create --resource-group rg-data"):
        login(catalog(), server(SQL_ID))


def _doc() -> dict[str, object]:
    return {
        "targets": [
            {
                "name": "orders",
                "engine": "postgres",
                "server": SERVER_ID,
                "database": "orders",
                "roles": ["reader"],
                "allowed_sources": ["/subscriptions/x"],
            }
        ]
    }


class CachedServers:
    """The server cache as the reconciler sees it: stale answers until an entry is forgotten."""

    def __init__(self, stale: ServerInfo, fresh: ServerInfo) -> None:
        self.answers = {True: stale, False: fresh}
        self.cached = True
        self.forgotten: list[str] = []

    def get_server(self, engine: object, rid: object) -> ServerInfo:
        return self.answers[self.cached]

    def forget(self, rid: ResourceId) -> None:
        self.forgotten.append(rid.key)
        self.cached = False


class RefusingSession:
    catalog_queries: dict[str, int] = {}
    writes = 0

    def __init__(self, engine: object, server: ServerInfo, login: str) -> None:
        self.login = login

    def observe(self, target: Target, principal: str) -> DatabaseState:
        raise LoginRefused(f"login refused for {self.login}")

    def snapshot(self, target: Target) -> DatabaseState:
        raise LoginRefused(f"login refused for {self.login}")

    def close(self) -> None:
        pass


def with_servers(servers: CachedServers) -> DatabaseAccess:
    return DatabaseAccess(catalog(), servers=servers, open_session=RefusingSession, function_object_id=SELF)


def test_an_admin_added_since_the_cache_was_filled_is_seen_at_once() -> None:
    servers = CachedServers(server(SERVER_ID, Administrator("someone-else", "alice")), server(SERVER_ID, ADMIN))
    target = catalog().targets["orders"]
    with with_servers(servers).batch() as sessions:
        sessions.open(target)
    assert servers.forgotten == [target.server.key]


def test_a_refused_cached_admin_is_forgotten() -> None:
    servers = CachedServers(server(SERVER_ID, ADMIN), server(SERVER_ID, ADMIN))
    target = catalog().targets["orders"]
    with with_servers(servers).batch() as sessions, pytest.raises(LoginRefused):
        sessions.snapshot(target)
    assert servers.forgotten == [target.server.key]
