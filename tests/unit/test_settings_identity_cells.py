"""Each engine x client x identity cell of the settings, against Service Connector's pages
("Integrate Azure SQL Database / Database for MySQL / Database for PostgreSQL with Service Connector")
and the drivers' documentation: a user-assigned identity must reach the driver, or the app signs in
as its system identity (or not at all)."""

from __future__ import annotations

import pytest

from provisioning.models import ClientType, Engine, TlsMode
from provisioning.settings import Connection, settings_for

CLIENT_ID = "6f6ca720-e439-4df4-830e-eee7122d2be9"


def conn(engine: Engine, client: ClientType, client_id: str | None, tls: TlsMode = TlsMode.REQUIRE) -> Connection:
    return Connection(
        engine=engine,
        target="orders",
        fqdn="srv.example",
        database="db",
        principal="shop",
        tls=tls,
        client=client,
        owns_plain_names=True,
        user_assigned_client_id=client_id,
    )


def test_sqlclient_connection_string_names_the_user_assigned_identity() -> None:
    value = settings_for(conn(Engine.SQL, ClientType.DOTNET, CLIENT_ID))["AZURE_SQL_CONNECTIONSTRING"]
    assert value == (
        f"Data Source=srv.example,1433;Initial Catalog=db;User ID={CLIENT_ID};"
        "Authentication=Active Directory Managed Identity"
    )


@pytest.mark.parametrize("client", [ClientType.JAVA, ClientType.SPRINGBOOT])
def test_jdbc_connection_string_names_the_user_assigned_identity(client: ClientType) -> None:
    value = settings_for(conn(Engine.SQL, client, CLIENT_ID))["AZURE_SQL_CONNECTIONSTRING"]
    assert value == (
        f"jdbc:sqlserver://srv.example:1433;databaseName=db;msiClientId={CLIENT_ID};authentication=ActiveDirectoryMSI;"
    )


@pytest.mark.parametrize("client", [ClientType.DOTNET, ClientType.JAVA])
def test_with_the_system_identity_the_strings_name_no_identity(client: ClientType) -> None:
    value = settings_for(conn(Engine.SQL, client, None))["AZURE_SQL_CONNECTIONSTRING"]
    assert "User ID" not in value and "msiClientId" not in value


def test_go_on_mysql_reads_one_dsn() -> None:
    assert settings_for(conn(Engine.MYSQL, ClientType.GO, None)) == {
        "AZURE_MYSQL_CONNECTIONSTRING": "shop@tcp(srv.example:3306)/db?tls=true"
    }
    dsn = settings_for(conn(Engine.MYSQL, ClientType.GO, None, TlsMode.DISABLE))["AZURE_MYSQL_CONNECTIONSTRING"]
    assert dsn.endswith("?tls=false")


CLIENTS = [ClientType.PYTHON, ClientType.DJANGO, ClientType.DOTNET, ClientType.JAVA, ClientType.SPRINGBOOT,
           ClientType.NODEJS, ClientType.GO]  # fmt: skip


@pytest.mark.parametrize("engine", [Engine.SQL, Engine.POSTGRES, Engine.MYSQL])
@pytest.mark.parametrize("client", CLIENTS)
def test_every_cell_hands_a_user_assigned_client_id_to_the_app(engine: Engine, client: ClientType) -> None:
    with_identity = settings_for(conn(engine, client, CLIENT_ID))
    without = settings_for(conn(engine, client, None))
    assert CLIENT_ID in with_identity.values() or any(CLIENT_ID in v for v in with_identity.values())
    assert not any(CLIENT_ID in v for v in without.values())
    assert set(without) <= set(with_identity)  # the identity adds, it never renames
