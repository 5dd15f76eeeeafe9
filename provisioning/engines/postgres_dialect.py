"""PostgreSQL flexible server, as the planner sees it (pure; the session is ``engines/postgres.py``)."""

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

NAME_BYTES = 63  # NAMEDATALEN - 1


class PostgresDialect(Dialect):
    engine = Engine.POSTGRES
    label = "PostgreSQL"
    server_type = "microsoft.dbforpostgresql/flexibleservers"
    principal_scope = PrincipalScope.SERVER
    binding_kind = BindingKind.OBJECT_ID  # pgaadauth labels the role with the object id
    default_schemas = ("public",)
    catalog_options = frozenset({"owner_role"})
    retires_by_reassigning = True  # DROP ROLE is refused while the role owns anything
    setting_prefix = "AZURE_POSTGRESQL"
    default_port = 5432
    token_audience = TokenAudience.OSSRDBMS
    admin_command = "az postgres flexible-server microsoft-entra-admin create"
    several_admins = True  # Entra administrators are added, never replaced

    def name_fits(self, name: str) -> bool:
        return len(name.encode("utf-8")) <= NAME_BYTES

    def expected_grants(self, target: Target, profile: RoleProfile, state: DatabaseState) -> frozenset[Grant]:
        """CONNECT, USAGE (and CREATE for ddl) on each schema, DML on the owner role's tables and the
        sequence rights serial keys need, and the same as default privileges for future objects."""
        table_privileges = {p.value for p in DML if p in profile.privileges}
        sequence_privileges = _sequence_privileges(profile)
        grants = {Grant("database", (target.database,), "CONNECT")}
        for schema in target.schemas:
            grants.add(Grant("schema", (schema,), "USAGE"))
            if Privilege.CREATE in profile.privileges:
                grants.add(Grant("schema", (schema,), "CREATE"))
            if state.default_owner is not None:
                grants |= {Grant("default_table", (state.default_owner, schema), p) for p in table_privileges}
                grants |= {Grant("default_sequence", (state.default_owner, schema), p) for p in sequence_privileges}
        for name in state.objects.get("table", ()):
            if name[0] in target.schemas:
                grants |= {Grant("table", name, p) for p in table_privileges}
        for name in state.objects.get("sequence", ()):
            if name[0] in target.schemas:
                grants |= {Grant("sequence", name, p) for p in sequence_privileges}
        return frozenset(grants)

    def setting_values(self, c: Connection, client: ClientType, port: str) -> dict[str, str]:
        tls_on = c.tls is TlsMode.REQUIRE
        sslmode = "require" if tls_on else "disable"
        if client is ClientType.NONE:
            return generic_settings(c, port)
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
        if client in (ClientType.PHP, ClientType.RUBY):
            # PHP (native) and Ruby (ruby-pg), system- and user-assigned managed identity:
            # learn.microsoft.com/azure/service-connector/how-to-integrate-postgres
            libpq = f"host={c.fqdn} port={port} dbname={c.database} sslmode={sslmode} user={c.principal}"
            return {"CONNECTIONSTRING": libpq}
        return {
            "CONNECTIONSTRING": f"dbname={c.database} host={c.fqdn} port={port} sslmode={sslmode} user={c.principal}"
        }


def _sequence_privileges(profile: RoleProfile) -> set[str]:
    """SELECT reads ``currval``; INSERT/UPDATE need ``nextval`` (USAGE) for serial keys."""
    wanted = set()
    if Privilege.SELECT in profile.privileges:
        wanted.add("SELECT")
    if profile.privileges & {Privilege.INSERT, Privilege.UPDATE}:
        wanted.add("USAGE")
    return wanted
