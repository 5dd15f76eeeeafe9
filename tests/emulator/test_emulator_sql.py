"""Microsoft.Sql logical servers through the real SqlManagementClient (azure-mgmt-sql 4.0.0)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.sql import SqlManagementClient
from azure.mgmt.sql.models import AdministratorProperties, ServerAzureADAdministrator

from emulator import Emulator
from emulator.estate import EstateError, load_estate
from tests.emulator.emulator_estate import DATA, ESTATE, SUBSCRIPTION, TENANT, arm_options

SQL_SALES = f"{DATA}/providers/Microsoft.Sql/servers/sql-sales"
DBA_GROUP = "7d1e2f3a-4b5c-4d6e-8f70-819203a4b5c6"
OTHER_GROUP = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SQL_SERVER: dict[str, Any] = {
    "name": "sql-sales",
    "administrator": {"object_id": DBA_GROUP, "login": "sql-admins", "type": "Group"},
    "databases": ["sales"],
}


def sql_estate(server: dict[str, Any]) -> dict[str, Any]:
    estate = copy.deepcopy(ESTATE)
    estate["subscriptions"][0]["resource_groups"][1]["sql_servers"] = [server]
    return estate


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    """The shared test estate plus one SQL server (overrides the package's `emu`)."""
    with Emulator.start(sql_estate(SQL_SERVER), state_dir=tmp_path / "emulator") as running:
        yield running


@pytest.fixture
def sql(emu: Emulator, credential: ManagedIdentityCredential) -> Iterator[SqlManagementClient]:
    with SqlManagementClient(credential, SUBSCRIPTION, **arm_options(emu)) as client:
        yield client


def _set_admin(sql: SqlManagementClient, object_id: str, login: str) -> ServerAzureADAdministrator:
    parameters = ServerAzureADAdministrator(
        properties=AdministratorProperties(
            administrator_type="ActiveDirectory", login=login, sid=object_id, tenant_id=TENANT
        )
    )
    poller = sql.server_azure_ad_administrators.begin_create_or_update(
        "rg-data", "sql-sales", "ActiveDirectory", parameters, polling_interval=0.01
    )
    return poller.result()


def test_the_server_has_its_fqdn_and_an_entra_only_group_admin(sql: SqlManagementClient) -> None:
    server = sql.servers.get("rg-data", "sql-sales")

    assert (server.id, server.type, server.kind) == (SQL_SALES, "Microsoft.Sql/servers", "v12.0")
    assert (server.fully_qualified_domain_name, server.state) == ("sql-sales.database.windows.net", "Ready")
    admin = server.administrators
    assert (admin.principal_type, admin.login, admin.sid, admin.tenant_id) == ("Group", "sql-admins", DBA_GROUP, TENANT)
    assert admin.azure_ad_only_authentication is True


def test_the_one_administrator_is_listed_and_read(sql: SqlManagementClient) -> None:
    listed = list(sql.server_azure_ad_administrators.list_by_server("rg-data", "sql-sales"))
    admin = sql.server_azure_ad_administrators.get("rg-data", "sql-sales", "ActiveDirectory")

    assert [(a.name, a.sid, a.login) for a in listed] == [("ActiveDirectory", DBA_GROUP, "sql-admins")]
    assert admin.id == f"{SQL_SALES}/administrators/ActiveDirectory"
    assert (admin.administrator_type, admin.tenant_id, admin.azure_ad_only_authentication) == (
        "ActiveDirectory",
        TENANT,
        True,
    )
    with pytest.raises(ResourceNotFoundError):
        sql.server_azure_ad_administrators.get("rg-data", "sql-sales", "SomethingElse")


def test_setting_the_administrator_is_long_running_and_replaces_the_one_there(
    emu: Emulator, sql: SqlManagementClient
) -> None:
    emu.clear_requests()

    admin = _set_admin(sql, OTHER_GROUP, "platform-dbas")

    assert (admin.sid, admin.login) == (OTHER_GROUP, "platform-dbas")
    calls = [(r.method, r.path.rsplit("/", 2)[-2], r.status, r.api_version) for r in emu.requests if r.kind != "token"]
    assert calls == [
        ("PUT", "administrators", 202, "2025-01-01"),
        ("GET", "azureAsyncOperation", 200, "2025-01-01"),  # InProgress
        ("GET", "azureAsyncOperation", 200, "2025-01-01"),  # Succeeded
        ("GET", "administrators", 200, "2025-01-01"),  # the final GET of the resource
    ]
    listed = list(sql.server_azure_ad_administrators.list_by_server("rg-data", "sql-sales"))
    assert [(a.sid, a.login) for a in listed] == [(OTHER_GROUP, "platform-dbas")]
    assert sql.servers.get("rg-data", "sql-sales").administrators.principal_type is None  # the body names no type
    assert [e["data"]["operationName"] for e in emu.events][-1] == "Microsoft.Sql/servers/administrators/write"


def test_only_the_active_directory_administrator_can_be_set(sql: SqlManagementClient) -> None:
    parameters = ServerAzureADAdministrator(
        properties=AdministratorProperties(administrator_type="ActiveDirectory", login="x", sid=OTHER_GROUP)
    )
    with pytest.raises(HttpResponseError) as raised:
        sql.server_azure_ad_administrators.begin_create_or_update(
            "rg-data", "sql-sales", "Other", parameters, polling_interval=0.01
        )
    assert raised.value.status_code == 400


def test_databases_include_master_as_azure_lists_it(sql: SqlManagementClient) -> None:
    listed = list(sql.databases.list_by_server("rg-data", "sql-sales"))
    assert [(d.name, d.kind) for d in listed] == [("master", "v12.0,system"), ("sales", "v12.0,user")]
    sales = sql.databases.get("rg-data", "sql-sales", "SALES")
    assert (sales.name, sales.status, sales.location) == ("sales", "Online", "westeurope")
    with pytest.raises(ResourceNotFoundError):
        sql.databases.get("rg-data", "sql-sales", "billing")


def test_a_missing_server(sql: SqlManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        sql.servers.get("rg-data", "sql-missing")
    assert raised.value.error is not None and raised.value.error.code == "ResourceNotFound"


def test_a_server_may_have_no_admin_and_keeps_an_explicit_fqdn() -> None:
    estate = load_estate(sql_estate({"name": "sql-bare", "fqdn": "sql-bare.example.test"}))
    server = next(iter(estate.sql_servers.values()))
    assert (server.fqdn, server.administrator, server.databases) == ("sql-bare.example.test", None, [])


def test_an_unknown_admin_type_is_refused_with_its_place_in_the_file() -> None:
    bad = {"name": "sql-bad", "administrator": {"object_id": DBA_GROUP, "login": "x", "type": "Robot"}}
    with pytest.raises(EstateError, match=r"sql_servers\[0\]\.administrator\.type"):
        load_estate(sql_estate(bad))
