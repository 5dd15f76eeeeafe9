"""Database servers: FQDN and Entra administrators, cached briefly since they rarely change."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import azure_errors, client_options
from provisioning.config import Config
from provisioning.models import Administrator, Engine, ServerInfo
from provisioning.resource_ids import ResourceId

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

CACHE_SECONDS = 300.0


class Servers:
    """Reads servers through ARM; one entry per server for ``CACHE_SECONDS`` per process."""

    def __init__(self, credential: TokenCredential, config: Config) -> None:
        self._credential = credential
        self._config = config
        self._cache: dict[str, tuple[float, ServerInfo]] = {}

    def get_server(self, engine: Engine, server: ResourceId) -> ServerInfo:
        cached = self._cache.get(server.key)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        readers = {  # the catalog admits no other server type: each engine's Dialect names its own
            "microsoft.dbforpostgresql/flexibleservers": self._postgres,
            "microsoft.sql/servers": self._sql,
            "microsoft.dbformysql/flexibleservers": self._mysql,
        }
        info = readers[server.full_type](server)
        self._cache[server.key] = (time.monotonic(), info)
        return info

    def forget(self, server: ResourceId) -> None:
        """Drop a cached entry: the reconciler does when the database refused the cached administrator,
        or the cached administrators lack the function's."""
        self._cache.pop(server.key, None)

    def _postgres(self, server: ResourceId) -> ServerInfo:
        from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient

        client: Any = PostgreSQLManagementClient(self._credential, server.subscription, **client_options(self._config))
        name = server.names[0]
        with azure_errors(f"read PostgreSQL server {server.id}"):
            found = client.servers.get(server.resource_group, name)
            admins = list(client.administrators_microsoft_entra.list_by_server(server.resource_group, name))
        return ServerInfo(
            id=server,
            fqdn=str(found.fully_qualified_domain_name),
            administrators=tuple(
                Administrator(object_id=str(a.object_id).lower(), login=str(a.principal_name)) for a in admins
            ),
        )

    def _sql(self, server: ResourceId) -> ServerInfo:
        """An Azure SQL server has one Entra administrator (``administrators/ActiveDirectory``); its
        ``sid`` is the administrator's object id, the one the catalog and the function compare."""
        from azure.mgmt.sql import SqlManagementClient

        client: Any = SqlManagementClient(self._credential, server.subscription, **client_options(self._config))
        name = server.names[0]
        with azure_errors(f"read Azure SQL server {server.id}"):
            found = client.servers.get(server.resource_group, name)
            admins = list(client.server_azure_ad_administrators.list_by_server(server.resource_group, name))
        return ServerInfo(
            id=server,
            fqdn=str(found.fully_qualified_domain_name),
            administrators=tuple(Administrator(object_id=str(a.sid).lower(), login=str(a.login)) for a in admins),
        )

    def _mysql(self, server: ResourceId) -> ServerInfo:
        """A MySQL flexible server has at most one Entra administrator (``ActiveDirectory``), whose
        ``sid`` is its object id; ``databasePort`` is where it listens (3306 unless set at creation)."""
        from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

        client: Any = MySQLManagementClient(self._credential, server.subscription, **client_options(self._config))
        name = server.names[0]
        with azure_errors(f"read MySQL server {server.id}"):
            found = client.servers.get(server.resource_group, name)
            admins = list(client.azure_ad_administrators.list_by_server(server.resource_group, name))
        return ServerInfo(
            id=server,
            fqdn=str(found.fully_qualified_domain_name),
            administrators=tuple(Administrator(object_id=str(a.sid).lower(), login=str(a.login)) for a in admins),
            port=int(found.database_port) if found.database_port else None,
        )
