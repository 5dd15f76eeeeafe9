"""Microsoft.DBforPostgreSQL flexible servers: the server, its databases and Entra administrators.

Entra authentication is on and password authentication off on every emulated server, as on a
server set up for passwordless access. Administrator writes are long-running operations.
"""

from __future__ import annotations

from typing import Any

from emulator.errors import bad_request, resource_not_found
from emulator.estate import Administrator, Estate, PostgresServer, key
from emulator.events import EventLog
from emulator.operations import AsyncOperations
from emulator.server import ArmRequest, ArmResponse, Route, arm_route, paged

API_VERSION = "2026-10-01"
PAGE_SIZE = 50
PROVIDER = "Microsoft.DBforPostgreSQL"
_SERVER = "/subscriptions/{subscription}/resourceGroups/{group}/providers/" + PROVIDER + "/flexibleServers/{name}"
_ADMINISTRATORS = f"{PROVIDER}/flexibleServers/administrators"
_PRINCIPAL_TYPES = {t.lower(): t for t in ("Unknown", "User", "Group", "ServicePrincipal")}


def server_json(server: PostgresServer, tenant_id: str) -> dict[str, Any]:
    return {
        "id": server.id,
        "name": server.name,
        "type": "Microsoft.DBforPostgreSQL/flexibleServers",
        "location": server.location,
        "tags": {},
        "sku": {"name": "Standard_B1ms", "tier": "Burstable"},
        "properties": {
            "version": server.version,
            "state": "Ready",
            "fullyQualifiedDomainName": server.fqdn,
            "authConfig": {"activeDirectoryAuth": "Enabled", "passwordAuth": "Disabled", "tenantId": tenant_id},
            "storage": {"storageSizeGB": 32},
            "network": {"publicNetworkAccess": "Enabled"},
        },
    }


def _administrator_id(server: PostgresServer, admin: Administrator) -> str:
    return f"{server.id}/administrators/{admin.object_id}"


def _administrator_json(server: PostgresServer, admin: Administrator) -> dict[str, Any]:
    return {
        "id": _administrator_id(server, admin),
        "name": admin.object_id,
        "type": _ADMINISTRATORS,
        "properties": {
            "principalType": admin.principal_type,
            "principalName": admin.principal_name,
            "objectId": admin.object_id,
            "tenantId": admin.tenant_id,
        },
    }


def _database_json(server: PostgresServer, database: str) -> dict[str, Any]:
    return {
        "id": f"{server.id}/databases/{database}",
        "name": database,
        "type": "Microsoft.DBforPostgreSQL/flexibleServers/databases",
        "properties": {"charset": "UTF8", "collation": "en_US.utf8"},
    }


class PostgresApi:
    """The flexible-server routes the product calls (api-version 2026-10-01)."""

    def __init__(self, estate: Estate, events: EventLog) -> None:
        self._estate = estate
        self._events = events
        self._operations = AsyncOperations(PROVIDER, API_VERSION)

    def routes(self) -> list[Route]:
        admin = _SERVER + "/administrators/{object_id}"
        return [
            arm_route("GET", _SERVER, API_VERSION, self.get_server),
            arm_route("GET", _SERVER + "/databases", API_VERSION, self.list_databases),
            arm_route("GET", _SERVER + "/databases/{database}", API_VERSION, self.get_database),
            arm_route("GET", _SERVER + "/administrators", API_VERSION, self.list_administrators),
            arm_route("GET", admin, API_VERSION, self.get_administrator),
            arm_route("PUT", admin, API_VERSION, self.put_administrator),
            arm_route("DELETE", admin, API_VERSION, self.delete_administrator),
            *self._operations.routes(),
        ]

    def get_server(self, request: ArmRequest) -> ArmResponse:
        return ArmResponse(200, server_json(self._server(request), self._estate.tenant_id))

    def list_databases(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        return paged(request, [_database_json(server, d) for d in server.databases], page_size=PAGE_SIZE)

    def get_database(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        wanted = request.params["database"]
        for database in server.databases:
            if key(database) == key(wanted):
                return ArmResponse(200, _database_json(server, database))
        raise resource_not_found(f"{PROVIDER}/flexibleServers/{server.name}/databases/{wanted}", server.resource_group)

    def list_administrators(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        admins = [_administrator_json(server, a) for a in server.administrators.values()]
        return paged(request, admins, page_size=PAGE_SIZE)

    def get_administrator(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        object_id = request.params["object_id"]
        admin = server.administrators.get(key(object_id))
        if admin is None:
            raise resource_not_found(
                f"{PROVIDER}/flexibleServers/{server.name}/administrators/{object_id}", server.resource_group
            )
        return ArmResponse(200, _administrator_json(server, admin))

    def put_administrator(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        properties = request.json_object().get("properties")
        if not isinstance(properties, dict):
            raise bad_request("The 'properties' object is required.", code="InvalidRequestContent")
        principal_type = _PRINCIPAL_TYPES.get(str(properties.get("principalType", "")).lower())
        principal_name = properties.get("principalName")
        if principal_type is None or not isinstance(principal_name, str) or not principal_name:
            raise bad_request(
                "properties.principalType (User, Group, ServicePrincipal) and properties.principalName are required.",
                code="InvalidParameterValue",
            )
        admin = Administrator(
            object_id=request.params["object_id"],
            principal_name=principal_name,
            principal_type=principal_type,
            tenant_id=str(properties.get("tenantId") or self._estate.tenant_id),
        )
        server.administrators[key(admin.object_id)] = admin
        self._events.emit(request.actor, _administrator_id(server, admin), f"{_ADMINISTRATORS}/write")
        return self._operations.accepted(request, server.location)

    def delete_administrator(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        admin = server.administrators.pop(key(request.params["object_id"]), None)
        if admin is None:
            return ArmResponse(204)
        self._events.emit(request.actor, _administrator_id(server, admin), f"{_ADMINISTRATORS}/delete")
        return self._operations.accepted(request, server.location)

    def _server(self, request: ArmRequest) -> PostgresServer:
        p = request.params
        server_id = _SERVER.format(subscription=p["subscription"], group=p["group"], name=p["name"])
        return self._estate.find(self._estate.postgres_servers, server_id)
