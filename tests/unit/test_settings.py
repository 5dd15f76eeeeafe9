import pytest

from provisioning.models import ClientType, Engine, TlsMode
from provisioning.settings import Connection, infer_client, settings_for


def conn(
    engine: Engine,
    client: ClientType,
    *,
    first: bool = True,
    tls: TlsMode = TlsMode.REQUIRE,
    client_id: str | None = None,
) -> Connection:
    return Connection(
        engine=engine,
        target="orders-eu",
        fqdn="srv.example",
        database="db",
        principal="shop",
        tls=tls,
        client=client,
        owns_plain_names=first,
        user_assigned_client_id=client_id,
    )


@pytest.mark.parametrize(
    ("engine", "client", "expected"),
    [
        (
            Engine.POSTGRES,
            ClientType.PYTHON,
            {"AZURE_POSTGRESQL_CONNECTIONSTRING": "dbname=db host=srv.example port=5432 sslmode=require user=shop"},
        ),
        (
            Engine.POSTGRES,
            ClientType.DJANGO,
            {"AZURE_POSTGRESQL_NAME": "db", "AZURE_POSTGRESQL_HOST": "srv.example", "AZURE_POSTGRESQL_USER": "shop"},
        ),
        (
            Engine.POSTGRES,
            ClientType.DOTNET,
            {
                "AZURE_POSTGRESQL_CONNECTIONSTRING": "Server=srv.example;Database=db;Port=5432;"
                "Ssl Mode=Require;User Id=shop;"
            },
        ),
        (
            Engine.POSTGRES,
            ClientType.SPRINGBOOT,
            {"AZURE_POSTGRESQL_CONNECTIONSTRING": "jdbc:postgresql://srv.example:5432/db?sslmode=require&user=shop"},
        ),
        (
            Engine.POSTGRES,
            ClientType.NODEJS,
            {
                "AZURE_POSTGRESQL_HOST": "srv.example",
                "AZURE_POSTGRESQL_USER": "shop",
                "AZURE_POSTGRESQL_DATABASE": "db",
                "AZURE_POSTGRESQL_PORT": "5432",
                "AZURE_POSTGRESQL_SSL": "true",
            },
        ),
        (
            Engine.SQL,
            ClientType.PYTHON,
            {
                "AZURE_SQL_SERVER": "srv.example",
                "AZURE_SQL_PORT": "1433",
                "AZURE_SQL_DATABASE": "db",
                "AZURE_SQL_AUTHENTICATION": "ActiveDirectoryMsi",
            },
        ),
        (
            Engine.SQL,
            ClientType.DOTNET,
            {
                "AZURE_SQL_CONNECTIONSTRING": "Data Source=srv.example,1433;Initial Catalog=db;"
                "Authentication=Active Directory Managed Identity"
            },
        ),
        (
            Engine.SQL,
            ClientType.JAVA,
            {
                "AZURE_SQL_CONNECTIONSTRING": "jdbc:sqlserver://srv.example:1433;databaseName=db;authentication=ActiveDirectoryMSI;"
            },
        ),
        (
            Engine.SQL,
            ClientType.NODEJS,
            {
                "AZURE_SQL_SERVER": "srv.example",
                "AZURE_SQL_PORT": "1433",
                "AZURE_SQL_DATABASE": "db",
                "AZURE_SQL_AUTHENTICATIONTYPE": "azure-active-directory-default",
            },
        ),
        (
            Engine.MYSQL,
            ClientType.PYTHON,
            {"AZURE_MYSQL_NAME": "db", "AZURE_MYSQL_HOST": "srv.example", "AZURE_MYSQL_USER": "shop"},
        ),
        (
            Engine.MYSQL,
            ClientType.DOTNET,
            {
                "AZURE_MYSQL_CONNECTIONSTRING": "Server=srv.example;Database=db;Port=3306;"
                "User Id=shop;SSL Mode=Required;"
            },
        ),
        (
            Engine.MYSQL,
            ClientType.JAVA,
            {"AZURE_MYSQL_CONNECTIONSTRING": "jdbc:mysql://srv.example:3306/db?sslmode=required&user=shop"},
        ),
    ],
)
def test_settings_per_engine_and_client(engine: Engine, client: ClientType, expected: dict[str, str]) -> None:
    assert settings_for(conn(engine, client)) == expected


def test_second_connection_of_an_engine_carries_the_target_name() -> None:
    assert list(settings_for(conn(Engine.POSTGRES, ClientType.PYTHON, first=False))) == [
        "AZURE_POSTGRESQL_ORDERS_EU_CONNECTIONSTRING"
    ]


def test_user_assigned_identity_adds_its_client_id() -> None:
    assert settings_for(conn(Engine.SQL, ClientType.PYTHON, client_id="c1"))["AZURE_SQL_USER"] == "c1"
    assert settings_for(conn(Engine.POSTGRES, ClientType.PYTHON, client_id="c1"))["AZURE_POSTGRESQL_CLIENTID"] == "c1"


def test_tls_off_is_visible_in_the_connection_string() -> None:
    value = settings_for(conn(Engine.POSTGRES, ClientType.PYTHON, tls=TlsMode.DISABLE))
    assert "sslmode=disable" in value["AZURE_POSTGRESQL_CONNECTIONSTRING"]


@pytest.mark.parametrize(
    ("stack", "client"),
    [
        ("PYTHON|3.11", ClientType.PYTHON),
        ("NODE|20-lts", ClientType.NODEJS),
        ("DOTNETCORE|8.0", ClientType.DOTNET),
        ("JAVA|17-java17", ClientType.JAVA),
        ("", ClientType.PYTHON),
    ],
)
def test_client_inferred_from_the_stack(stack: str, client: ClientType) -> None:
    assert infer_client(stack) is client


@pytest.mark.parametrize(
    ("engine", "client", "expected"),
    [  # Service Connector's names: learn.microsoft.com/azure/service-connector/how-to-integrate-postgres, -mysql
        (
            Engine.POSTGRES,
            ClientType.PHP,
            {"AZURE_POSTGRESQL_CONNECTIONSTRING": "host=srv.example port=5432 dbname=db sslmode=require user=shop"},
        ),
        (
            Engine.POSTGRES,
            ClientType.RUBY,
            {"AZURE_POSTGRESQL_CONNECTIONSTRING": "host=srv.example port=5432 dbname=db sslmode=require user=shop"},
        ),
        (
            Engine.MYSQL,
            ClientType.PHP,
            {
                "AZURE_MYSQL_DBNAME": "db",
                "AZURE_MYSQL_HOST": "srv.example",
                "AZURE_MYSQL_PORT": "3306",
                "AZURE_MYSQL_USERNAME": "shop",
                "AZURE_MYSQL_FLAG": "MYSQLI_CLIENT_SSL",
            },
        ),
        (
            Engine.MYSQL,
            ClientType.RUBY,
            {
                "AZURE_MYSQL_DATABASE": "db",
                "AZURE_MYSQL_HOST": "srv.example",
                "AZURE_MYSQL_USERNAME": "shop",
                "AZURE_MYSQL_SSLMODE": "required",
            },
        ),
    ],
)
def test_php_and_ruby_get_service_connectors_names(
    engine: Engine, client: ClientType, expected: dict[str, str]
) -> None:
    assert settings_for(conn(engine, client)) == expected
    with_identity = settings_for(conn(engine, client, client_id="c1d"))
    assert with_identity == expected | {f"{next(iter(expected)).rsplit('_', 1)[0]}_CLIENTID": "c1d"}


@pytest.mark.parametrize("client", [ClientType.PHP, ClientType.RUBY])
def test_php_and_ruby_on_azure_sql_are_refused_by_name(client: ClientType) -> None:
    from provisioning.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match=f"no passwordless settings for client type {client.value}"):
        settings_for(conn(Engine.SQL, client))


GENERIC = {  # client type `none`: Service Connector's generic pieces, no driver's connection string
    Engine.POSTGRES: {
        "AZURE_POSTGRESQL_HOST": "srv.example",
        "AZURE_POSTGRESQL_PORT": "5432",
        "AZURE_POSTGRESQL_DATABASE": "db",
        "AZURE_POSTGRESQL_USER": "shop",
        "AZURE_POSTGRESQL_SSL": "true",
    },
    Engine.MYSQL: {
        "AZURE_MYSQL_HOST": "srv.example",
        "AZURE_MYSQL_PORT": "3306",
        "AZURE_MYSQL_DATABASE": "db",
        "AZURE_MYSQL_USER": "shop",
        "AZURE_MYSQL_SSL": "true",
    },
    Engine.SQL: {"AZURE_SQL_SERVER": "srv.example", "AZURE_SQL_PORT": "1433", "AZURE_SQL_DATABASE": "db"},
}


@pytest.mark.parametrize("engine", list(Engine))
def test_client_type_none_gets_only_the_generic_settings_on_every_engine(engine: Engine) -> None:
    assert set(GENERIC) == set(Engine)  # a new engine must say what `none` writes
    settings = settings_for(conn(engine, ClientType.NONE))
    assert settings == GENERIC[engine]
    assert not any(key.endswith(("CONNECTIONSTRING", "AUTHENTICATION", "AUTHENTICATIONTYPE")) for key in settings)

    prefix = next(iter(GENERIC[engine])).rsplit("_", 1)[0]
    with_identity = settings_for(conn(engine, ClientType.NONE, client_id="c1"))
    assert with_identity == GENERIC[engine] | {f"{prefix}_CLIENTID": "c1"}  # never SQL python's `USER`

    second = settings_for(conn(engine, ClientType.NONE, first=False))
    assert set(second) == {key.replace(prefix, f"{prefix}_ORDERS_EU", 1) for key in GENERIC[engine]}


def test_client_type_none_shows_tls_off_as_false() -> None:
    assert settings_for(conn(Engine.POSTGRES, ClientType.NONE, tls=TlsMode.DISABLE))["AZURE_POSTGRESQL_SSL"] == "false"
    assert settings_for(conn(Engine.MYSQL, ClientType.NONE, tls=TlsMode.DISABLE))["AZURE_MYSQL_SSL"] == "false"


def test_client_type_none_is_never_inferred() -> None:
    assert all(infer_client(stack) is not ClientType.NONE for stack in ("", "NONE|1", "STATIC|1", "PHP|8.2"))
