"""Azure SQL Database, as the planner sees it (pure; the session is ``engines/mssql.py``)."""

from __future__ import annotations

from provisioning.clouds import TokenAudience
from provisioning.engines.dialect import DML, Dialect, PrincipalScope
from provisioning.errors import InvalidRequest
from provisioning.models import (
    BindingKind,
    ClientType,
    Connection,
    DatabaseState,
    Engine,
    Grant,
    Privilege,
    RoleProfile,
    Target,
)

NAME_CHARACTERS = 128  # sysname
DDL_DATABASE = ("CREATE TABLE", "CREATE VIEW")
DDL_SCHEMA = ("ALTER",)


class SqlDialect(Dialect):
    engine = Engine.SQL
    label = "Azure SQL"
    server_type = "microsoft.sql/servers"
    # Contained users live in one database: a user in `orders` is unknown in `billing` (Msg 15151).
    principal_scope = PrincipalScope.DATABASE
    # The user's SID is the client (application) id in both CREATE USER forms (see engines/mssql.py).
    binding_kind = BindingKind.CLIENT_ID
    default_schemas = ("dbo",)
    catalog_options = frozenset({"sql_binding"})
    setting_prefix = "AZURE_SQL"
    default_port = 1433
    token_audience = TokenAudience.AZURE_SQL
    admin_command = "az sql server ad-admin create"

    def name_fits(self, name: str) -> bool:
        return len(name) <= NAME_CHARACTERS

    def expected_grants(self, target: Target, profile: RoleProfile, state: DatabaseState) -> frozenset[Grant]:
        """DML on each managed schema; CONNECT comes with the user and stays."""
        grants = {Grant("database", (target.database,), "CONNECT")}
        for schema in target.schemas:
            grants |= {Grant("schema", (schema,), p.value) for p in DML if p in profile.privileges}
            if Privilege.CREATE in profile.privileges:
                grants |= {Grant("schema", (schema,), p) for p in DDL_SCHEMA}
        if Privilege.CREATE in profile.privileges:
            grants |= {Grant("database", (target.database,), p) for p in DDL_DATABASE}
        return frozenset(grants)

    def setting_values(self, c: Connection, client: ClientType, port: str) -> dict[str, str]:
        """With a user-assigned identity the connection string names it, or the driver signs in with
        the system identity (Service Connector, "Integrate Azure SQL Database", user-assigned tabs:
        SqlClient ``User ID=<identity-client-ID>``, JDBC ``msiClientId=<msiClientId>``; SqlClient's
        "Active Directory Managed Identity" takes the user-assigned identity's client id as User Id)."""
        uami = c.user_assigned_client_id
        if client in (ClientType.PHP, ClientType.RUBY):
            # Service Connector offers PHP and Ruby on Azure SQL with a secret only, never with a managed
            # identity (learn.microsoft.com/azure/service-connector/how-to-integrate-sql-database): no names.
            raise InvalidRequest(
                f"target {c.target}: Azure SQL has no passwordless settings for client type {client.value} "
                "(Service Connector offers it only with a password); choose dotnet, java, nodejs, python or none",
                field="passwordless-client",
            )
        if client is ClientType.DOTNET:
            user = f"User ID={uami};" if uami else ""
            return {
                "CONNECTIONSTRING": f"Data Source={c.fqdn},{port};Initial Catalog={c.database};{user}"
                "Authentication=Active Directory Managed Identity"
            }
        if client in (ClientType.JAVA, ClientType.SPRINGBOOT):
            msi = f"msiClientId={uami};" if uami else ""
            return {
                "CONNECTIONSTRING": f"jdbc:sqlserver://{c.fqdn}:{port};databaseName={c.database};{msi}"
                "authentication=ActiveDirectoryMSI;"
            }
        common = {"SERVER": c.fqdn, "PORT": port, "DATABASE": c.database}
        if client is ClientType.NONE:
            # No framework: the server, port and database, without a driver's authentication keyword
            # (models.ClientType); a user-assigned identity adds CLIENTID (client_id_setting).
            return common
        if client is ClientType.NODEJS:
            return common | {"AUTHENTICATIONTYPE": "azure-active-directory-default"}
        return common | {"AUTHENTICATION": "ActiveDirectoryMsi"}

    def client_id_setting(self, client: ClientType) -> str:
        """Python's and Django's SQL drivers read the user-assigned client id as the user."""
        return "USER" if client in (ClientType.PYTHON, ClientType.DJANGO) else "CLIENTID"
