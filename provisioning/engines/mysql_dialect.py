"""MySQL flexible server, as the planner sees it (pure; the session is ``engines/mysql.py``)."""

from __future__ import annotations

from provisioning.clouds import TokenAudience
from provisioning.engines.dialect import DML, Dialect, PrincipalScope, generic_settings
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
    TlsMode,
)

NAME_CHARACTERS = 32  # MySQL 8 user names
# ``CREATE`` (the ddl profile) lets an app run its own migrations. DROP on ``db``.* would also allow
# DROP DATABASE, so it is deliberately not part of it.
DDL = ("CREATE", "ALTER", "INDEX", "REFERENCES")


class MysqlDialect(Dialect):
    engine = Engine.MYSQL
    label = "MySQL"
    server_type = "microsoft.dbformysql/flexibleservers"
    principal_scope = PrincipalScope.SERVER  # a server-level user with grants on each database
    binding_kind = BindingKind.CLIENT_ID  # CREATE AADUSER ... IDENTIFIED BY '<client id>'
    default_schemas = ()
    setting_prefix = "AZURE_MYSQL"
    default_port = 3306
    token_audience = TokenAudience.OSSRDBMS
    admin_command = "az mysql flexible-server ad-admin create"
    # `ad-admin create` requires --identity: the name or id of the server's own user-assigned identity
    # (learn.microsoft.com/cli/azure/mysql/flexible-server/ad-admin#az-mysql-flexible-server-ad-admin-create),
    # which needs Microsoft Graph read rights; `identity list` shows the server's identities.
    admin_command_extra = (
        " --identity followed by the server's own user-assigned identity (which needs Microsoft Graph read"
        " rights), as listed by az mysql flexible-server identity list --resource-group {resource_group}"
        " --server-name {server}"
    )

    def name_fits(self, name: str) -> bool:
        return len(name) <= NAME_CHARACTERS

    def expected_grants(self, target: Target, profile: RoleProfile, state: DatabaseState) -> frozenset[Grant]:
        """MySQL grants live on ``db``.*: one object, the database."""
        privileges = {p.value for p in DML if p in profile.privileges}
        if Privilege.CREATE in profile.privileges:
            privileges |= set(DDL)
        return frozenset(Grant("database", (target.database,), p) for p in privileges)

    def setting_values(self, c: Connection, client: ClientType, port: str) -> dict[str, str]:
        tls_on = c.tls is TlsMode.REQUIRE
        sslmode = "Required" if tls_on else "Disabled"
        if client is ClientType.NONE:
            return generic_settings(c, port)
        if c.client is ClientType.GO:
            # go-sql-driver reads one DSN (Service Connector, "Integrate Azure Database for MySQL", Go:
            # `<MySQL-DB-username>@tcp(<server-host>:<port>)/<MySQL-DB-name>?tls=true`).
            return {"CONNECTIONSTRING": f"{c.principal}@tcp({c.fqdn}:{port})/{c.database}?tls={str(tls_on).lower()}"}
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
            return {
                "HOST": c.fqdn,
                "USER": c.principal,
                "DATABASE": c.database,
                "PORT": port,
                "SSL": str(tls_on).lower(),
            }
        # PHP (mysqli) and Ruby (mysql2), system- and user-assigned managed identity:
        # learn.microsoft.com/azure/service-connector/how-to-integrate-mysql
        if client is ClientType.PHP:
            flag = {"FLAG": "MYSQLI_CLIENT_SSL"} if tls_on else {}
            return {"DBNAME": c.database, "HOST": c.fqdn, "PORT": port, "USERNAME": c.principal} | flag
        if client is ClientType.RUBY:
            return {"DATABASE": c.database, "HOST": c.fqdn, "USERNAME": c.principal, "SSLMODE": sslmode.lower()}
        return {"NAME": c.database, "HOST": c.fqdn, "USER": c.principal}
