"""Microsoft.DBforMySQL flexible servers through the real MySQLManagementClient (azure-mgmt-mysqlflexibleservers)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.mysqlflexibleservers import MySQLManagementClient
from azure.mgmt.mysqlflexibleservers.models import AzureADAdministrator

from emulator import Emulator
from tests.emulator.emulator_estate import DATA, ESTATE, FUNCTION_OBJECT_ID, SUBSCRIPTION, TENANT, arm_options

MYSQL_ORDERS = f"{DATA}/providers/Microsoft.DBforMySQL/flexibleServers/mysql-orders"
SERVER_IDENTITY = f"{DATA}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mysql-entra"
GROUP_OBJECT_ID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
LOCAL_PROXY_PORT = 40123


def _estate() -> dict[str, Any]:
    estate = copy.deepcopy(ESTATE)
    data = next(g for g in estate["subscriptions"][0]["resource_groups"] if g["name"] == "rg-data")
    data["mysql_servers"] = [
        {
            "name": "mysql-orders",
            "fqdn": "127.0.0.1",
            "port": LOCAL_PROXY_PORT,
            "identity_resource_id": SERVER_IDENTITY,
            "administrator": {"object_id": FUNCTION_OBJECT_ID, "login": "passwordless-func"},
            "databases": ["orders", "audit"],
        },
        {"name": "mysql-bare", "databases": []},
    ]
    return estate


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator.start(_estate(), state_dir=tmp_path / "emulator") as running:
        yield running


@pytest.fixture
def mysql(emu: Emulator, credential: ManagedIdentityCredential) -> Iterator[MySQLManagementClient]:
    with MySQLManagementClient(credential, SUBSCRIPTION, **arm_options(emu)) as client:
        yield client


def _group_admin() -> AzureADAdministrator:
    return AzureADAdministrator(
        administrator_type="ActiveDirectory",
        login="db-admins",
        sid=GROUP_OBJECT_ID,
        tenant_id=TENANT,
        identity_resource_id=SERVER_IDENTITY,
    )


def test_the_server_reports_its_endpoint_and_identity(mysql: MySQLManagementClient) -> None:
    server = mysql.servers.get("rg-data", "mysql-orders")

    assert server.id == MYSQL_ORDERS
    assert (server.fully_qualified_domain_name, server.database_port, server.state) == (
        "127.0.0.1",
        LOCAL_PROXY_PORT,
        "Ready",
    )
    assert server.version == "8.0.21"
    assert list(server.identity.user_assigned_identities) == [SERVER_IDENTITY]
    assert mysql.servers.get("rg-data", "mysql-bare").database_port == 3306


def test_the_one_administrator_is_listed_and_read(mysql: MySQLManagementClient) -> None:
    listed = list(mysql.azure_ad_administrators.list_by_server("rg-data", "mysql-orders"))
    admin = mysql.azure_ad_administrators.get("rg-data", "mysql-orders", "ActiveDirectory")

    assert [(a.sid, a.login) for a in listed] == [(FUNCTION_OBJECT_ID, "passwordless-func")]
    assert admin.id == f"{MYSQL_ORDERS}/administrators/ActiveDirectory"
    assert (admin.name, admin.administrator_type, admin.tenant_id, admin.identity_resource_id) == (
        "ActiveDirectory",
        "ActiveDirectory",
        TENANT,
        SERVER_IDENTITY,
    )
    assert list(mysql.azure_ad_administrators.list_by_server("rg-data", "mysql-bare")) == []
    with pytest.raises(ResourceNotFoundError):
        mysql.azure_ad_administrators.get("rg-data", "mysql-bare", "ActiveDirectory")


def test_setting_an_administrator_replaces_the_one_there_in_a_long_running_operation(
    emu: Emulator, mysql: MySQLManagementClient
) -> None:
    emu.clear_requests()

    poller = mysql.azure_ad_administrators.begin_create_or_update(
        "rg-data", "mysql-orders", "ActiveDirectory", _group_admin(), polling_interval=0.01
    )
    admin = poller.result()

    assert (admin.sid, admin.login) == (GROUP_OBJECT_ID, "db-admins")
    calls = [(r.method, r.path.rsplit("/", 2)[-2], r.status) for r in emu.requests if r.kind != "token"]
    assert calls == [
        ("PUT", "administrators", 202),
        ("GET", "azureAsyncOperation", 200),  # InProgress
        ("GET", "azureAsyncOperation", 200),  # Succeeded
        ("GET", "operationResults", 200),  # final-state-via: location -> the administrator
    ]
    listed = mysql.azure_ad_administrators.list_by_server("rg-data", "mysql-orders")
    assert [(a.sid, a.login) for a in listed] == [(GROUP_OBJECT_ID, "db-admins")]
    writes = [e for e in emu.events if e["data"]["operationName"].endswith("administrators/write")]
    assert [e["subject"] for e in writes] == [f"{MYSQL_ORDERS}/administrators/ActiveDirectory"]


def test_only_the_active_directory_administrator_exists(mysql: MySQLManagementClient) -> None:
    with pytest.raises(HttpResponseError) as raised:
        mysql.azure_ad_administrators.begin_create_or_update(
            "rg-data", "mysql-orders", "SomeoneElse", _group_admin(), polling_interval=0.01
        ).result()
    assert raised.value.status_code == 400
    with pytest.raises(HttpResponseError) as incomplete:
        mysql.azure_ad_administrators.begin_create_or_update(
            "rg-data", "mysql-orders", "ActiveDirectory", AzureADAdministrator(login="x"), polling_interval=0.01
        ).result()
    assert incomplete.value.status_code == 400
    assert [a.sid for a in mysql.azure_ad_administrators.list_by_server("rg-data", "mysql-orders")] == [
        FUNCTION_OBJECT_ID
    ]


def test_removing_the_administrator(emu: Emulator, mysql: MySQLManagementClient) -> None:
    for _ in range(2):
        mysql.azure_ad_administrators.begin_delete(
            "rg-data", "mysql-orders", "ActiveDirectory", polling_interval=0.01
        ).result()

    assert list(mysql.azure_ad_administrators.list_by_server("rg-data", "mysql-orders")) == []
    assert [r.status for r in emu.requests if r.method == "DELETE"] == [202, 204]


def test_databases(mysql: MySQLManagementClient) -> None:
    assert [d.name for d in mysql.databases.list_by_server("rg-data", "mysql-orders")] == ["orders", "audit"]
    assert mysql.databases.get("rg-data", "mysql-orders", "orders").charset == "utf8mb4"
    with pytest.raises(ResourceNotFoundError):
        mysql.databases.get("rg-data", "mysql-orders", "billing")


def test_a_missing_server_and_a_wrong_api_version(emu: Emulator, mysql: MySQLManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        mysql.servers.get("rg-data", "mysql-missing")
    assert raised.value.error.code == "ResourceNotFound"

    with pytest.raises(HttpResponseError) as wrong:
        mysql.servers.get("rg-data", "mysql-orders", api_version="2023-06-30")
    assert wrong.value.error.code == "InvalidApiVersionParameter"
