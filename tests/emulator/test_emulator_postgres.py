"""Microsoft.DBforPostgreSQL flexible servers through the real PostgreSQLManagementClient."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient
from azure.mgmt.postgresqlflexibleservers.models import (
    AdministratorMicrosoftEntraAdd,
    AdministratorMicrosoftEntraPropertiesForAdd,
)

from emulator import Emulator
from tests.emulator.emulator_estate import FUNCTION_OBJECT_ID, PG_ORDERS, TENANT

GROUP_OBJECT_ID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"


def _add_group_admin(postgres: PostgreSQLManagementClient) -> None:
    parameters = AdministratorMicrosoftEntraAdd(
        properties=AdministratorMicrosoftEntraPropertiesForAdd(principal_type="Group", principal_name="db-admins")
    )
    poller = postgres.administrators_microsoft_entra.begin_create_or_update(
        "rg-data", "pg-orders", GROUP_OBJECT_ID, parameters, polling_interval=0.01
    )
    admin = poller.result()
    assert (admin.object_id, admin.principal_name, admin.principal_type) == (GROUP_OBJECT_ID, "db-admins", "Group")


def test_the_server_has_entra_auth_only(emu: Emulator, postgres: PostgreSQLManagementClient) -> None:
    server = postgres.servers.get("rg-data", "pg-orders")

    assert server.id == PG_ORDERS
    assert (server.fully_qualified_domain_name, server.state, server.version) == ("127.0.0.1", "Ready", "16")
    assert server.auth_config.active_directory_auth == "Enabled"
    assert server.auth_config.password_auth == "Disabled"
    assert server.auth_config.tenant_id == TENANT
    assert emu.database_endpoint(PG_ORDERS) == ("127.0.0.1", 5432)


def test_administrators_are_listed_and_read(postgres: PostgreSQLManagementClient) -> None:
    listed = list(postgres.administrators_microsoft_entra.list_by_server("rg-data", "pg-orders"))
    admin = postgres.administrators_microsoft_entra.get("rg-data", "pg-orders", FUNCTION_OBJECT_ID)

    assert [a.object_id for a in listed] == [FUNCTION_OBJECT_ID]
    assert (admin.principal_name, admin.principal_type, admin.tenant_id) == (
        "passwordless-func",
        "ServicePrincipal",
        TENANT,
    )
    assert admin.id == f"{PG_ORDERS}/administrators/{FUNCTION_OBJECT_ID}"
    with pytest.raises(ResourceNotFoundError):
        postgres.administrators_microsoft_entra.get("rg-data", "pg-orders", GROUP_OBJECT_ID)


def test_adding_an_administrator_is_a_long_running_operation(
    emu: Emulator, postgres: PostgreSQLManagementClient
) -> None:
    emu.clear_requests()

    _add_group_admin(postgres)

    calls = [(r.method, r.path.rsplit("/", 2)[-2], r.status) for r in emu.requests if r.kind != "token"]
    assert calls == [
        ("PUT", "administrators", 202),
        ("GET", "azureAsyncOperation", 200),  # InProgress
        ("GET", "azureAsyncOperation", 200),  # Succeeded
        ("GET", "administrators", 200),  # the final GET of the resource
    ]
    listed = postgres.administrators_microsoft_entra.list_by_server("rg-data", "pg-orders")
    assert sorted(a.object_id for a in listed) == sorted([FUNCTION_OBJECT_ID, GROUP_OBJECT_ID])


def test_removing_an_administrator(emu: Emulator, postgres: PostgreSQLManagementClient) -> None:
    _add_group_admin(postgres)

    postgres.administrators_microsoft_entra.begin_delete(
        "rg-data", "pg-orders", GROUP_OBJECT_ID, polling_interval=0.01
    ).result()
    postgres.administrators_microsoft_entra.begin_delete(
        "rg-data", "pg-orders", GROUP_OBJECT_ID, polling_interval=0.01
    ).result()

    assert [a.object_id for a in postgres.administrators_microsoft_entra.list_by_server("rg-data", "pg-orders")] == [
        FUNCTION_OBJECT_ID
    ]
    assert [r.status for r in emu.requests if r.method == "DELETE"] == [202, 204]


def test_databases(postgres: PostgreSQLManagementClient) -> None:
    assert [d.name for d in postgres.databases.list_by_server("rg-data", "pg-orders")] == ["orders", "catalog"]
    assert postgres.databases.get("rg-data", "pg-orders", "orders").charset == "UTF8"
    with pytest.raises(ResourceNotFoundError):
        postgres.databases.get("rg-data", "pg-orders", "billing")


def test_a_missing_server(postgres: PostgreSQLManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        postgres.servers.get("rg-data", "pg-missing")

    assert raised.value.error.code == "ResourceNotFound"
