"""App-setting names and values each framework reads, compatible with Service Connector. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.models import ClientType, Engine, TlsMode

MANAGED_KEYS_SETTING = "PASSWORDLESS_MANAGED_KEYS"
REQUEST_SETTING = "PASSWORDLESS_REQUEST"
PREFIX = {Engine.SQL: "AZURE_SQL", Engine.POSTGRES: "AZURE_POSTGRESQL", Engine.MYSQL: "AZURE_MYSQL"}
PORT = {Engine.SQL: 1433, Engine.POSTGRES: 5432, Engine.MYSQL: 3306}


@dataclass(frozen=True)
class Connection:
    """Everything a connection's settings are made of; none of it is secret."""

    engine: Engine
    target: str
    fqdn: str
    database: str
    principal: str
    tls: TlsMode
    client: ClientType
    first_of_engine: bool
    user_assigned_client_id: str | None = None
    port: int | None = None  # the server's own port when it has one (MySQL's databasePort)


def settings_for(connection: Connection) -> dict[str, str]:
    """The settings of one connection. Later connections of an engine carry the target name."""
    base = PREFIX[connection.engine]
    infix = "" if connection.first_of_engine else "_" + connection.target.upper().replace("-", "_")

    def key(suffix: str) -> str:
        return f"{base}{infix}_{suffix}"

    values = _values(connection)
    settings = {key(suffix): value for suffix, value in values.items()}
    if connection.user_assigned_client_id:
        python_sql = connection.engine is Engine.SQL and connection.client in (ClientType.PYTHON, ClientType.DJANGO)
        settings[key("USER" if python_sql else "CLIENTID")] = connection.user_assigned_client_id
    return settings


def _values(c: Connection) -> dict[str, str]:
    port = str(c.port or PORT[c.engine])
    tls_on = c.tls is TlsMode.REQUIRE
    client = ClientType.PYTHON if c.client is ClientType.GO else c.client
    if c.engine is Engine.SQL:
        if client is ClientType.DOTNET:
            return {
                "CONNECTIONSTRING": f"Data Source={c.fqdn},{port};Initial Catalog={c.database};"
                "Authentication=Active Directory Managed Identity"
            }
        if client in (ClientType.JAVA, ClientType.SPRINGBOOT):
            return {
                "CONNECTIONSTRING": f"jdbc:sqlserver://{c.fqdn}:{port};databaseName={c.database};"
                "authentication=ActiveDirectoryMSI;"
            }
        common = {"SERVER": c.fqdn, "PORT": port, "DATABASE": c.database}
        if client is ClientType.NODEJS:
            return common | {"AUTHENTICATIONTYPE": "azure-active-directory-default"}
        return common | {"AUTHENTICATION": "ActiveDirectoryMsi"}
    if c.engine is Engine.POSTGRES:
        sslmode = "require" if tls_on else "disable"
        if client is ClientType.DJANGO:
            return {"NAME": c.database, "HOST": c.fqdn, "USER": c.principal}
        if client is ClientType.DOTNET:
            return {
                "CONNECTIONSTRING": f"Server={c.fqdn};Database={c.database};Port={port};"
                f"Ssl Mode={sslmode.capitalize()};User Id={c.principal};"
            }
        if client in (ClientType.JAVA, ClientType.SPRINGBOOT):
            return {
                "CONNECTIONSTRING": f"jdbc:postgresql://{c.fqdn}:{port}/{c.database}?sslmode={sslmode}&user={c.principal}"
            }
        if client is ClientType.NODEJS:
            return {
                "HOST": c.fqdn,
                "USER": c.principal,
                "DATABASE": c.database,
                "PORT": port,
                "SSL": str(tls_on).lower(),
            }
        return {
            "CONNECTIONSTRING": f"dbname={c.database} host={c.fqdn} port={port} sslmode={sslmode} user={c.principal}"
        }
    sslmode = "Required" if tls_on else "Disabled"
    if client is ClientType.DOTNET:
        return {
            "CONNECTIONSTRING": f"Server={c.fqdn};Database={c.database};Port={port};User Id={c.principal};"
            f"SSL Mode={sslmode};"
        }
    if client in (ClientType.JAVA, ClientType.SPRINGBOOT):
        return {
            "CONNECTIONSTRING": f"jdbc:mysql://{c.fqdn}:{port}/{c.database}?sslmode={sslmode.lower()}&user={c.principal}"
        }
    if client is ClientType.NODEJS:
        return {"HOST": c.fqdn, "USER": c.principal, "DATABASE": c.database, "PORT": port, "SSL": str(tls_on).lower()}
    return {"NAME": c.database, "HOST": c.fqdn, "USER": c.principal}


def parse_managed_keys(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    return frozenset(key.strip() for key in value.split(",") if key.strip())


def format_managed_keys(keys: frozenset[str]) -> str:
    return ",".join(sorted(keys))


def infer_client(linux_fx_version: str) -> ClientType:
    """The framework from the site's stack (``PYTHON|3.11``, ``NODE|20-lts``, ``DOTNETCORE|8.0``...)."""
    stack = linux_fx_version.split("|", 1)[0].strip().upper()
    return {
        "NODE": ClientType.NODEJS,
        "DOTNETCORE": ClientType.DOTNET,
        "DOTNET": ClientType.DOTNET,
        "JAVA": ClientType.JAVA,
        "TOMCAT": ClientType.JAVA,
        "JBOSSEAP": ClientType.JAVA,
        "GO": ClientType.GO,
    }.get(stack, ClientType.PYTHON)
