"""Microsoft.DBforMySQL flexible servers: the server, its databases and its one Entra administrator.

As in Azure, a server has at most one Microsoft Entra administrator, the child resource named
`ActiveDirectory`: a PUT replaces whoever held it. Writes are long-running operations whose
`Location` link answers with the final resource, which is where azure-mgmt-mysqlflexibleservers
reads it from (`final-state-via: location`).

`properties.databasePort` carries the port of the local shim proxy in front of MariaDB; Azure
reports the port a server listens on in the same property (3306 unless chosen at creation).
"""

from __future__ import annotations

from typing import Any

from emulator.errors import bad_request, resource_not_found
from emulator.estate import Estate, MysqlAdministrator, MysqlServer, key, stable_uuid
from emulator.events import EventLog
from emulator.operations import AsyncOperations
from emulator.server import ArmRequest, ArmResponse, Route, arm_route, paged

API_VERSION = "2024-12-30"  # what azure-mgmt-mysqlflexibleservers 1.0.0 sends
PAGE_SIZE = 50
PROVIDER = "Microsoft.DBforMySQL"
ADMINISTRATOR_NAME = "ActiveDirectory"
_SERVER = "/subscriptions/{subscription}/resourceGroups/{group}/providers/" + PROVIDER + "/flexibleServers/{name}"
_ADMINISTRATORS = f"{PROVIDER}/flexibleServers/administrators"


def server_json(server: MysqlServer) -> dict[str, Any]:
    identity = server.identity_resource_id
    return {
        "id": server.id,
        "name": server.name,
        "type": f"{PROVIDER}/flexibleServers",
        "location": server.location,
        "tags": {},
        "sku": {"name": "Standard_B1ms", "tier": "Burstable"},
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": {
                identity: {
                    "principalId": stable_uuid(identity, "principal"),
                    "clientId": stable_uuid(identity, "client"),
                }
            },
        },
        "properties": {
            "version": server.version,
            "state": "Ready",
            "fullyQualifiedDomainName": server.fqdn,
            "databasePort": server.port,
            "storage": {"storageSizeGB": 20, "autoGrow": "Enabled"},
            "network": {"publicNetworkAccess": "Enabled"},
        },
    }


def _administrator_id(server: MysqlServer) -> str:
    return f"{server.id}/administrators/{ADMINISTRATOR_NAME}"


def _administrator_json(server: MysqlServer, admin: MysqlAdministrator) -> dict[str, Any]:
    return {
        "id": _administrator_id(server),
        "name": ADMINISTRATOR_NAME,
        "type": _ADMINISTRATORS,
        "properties": {
            "administratorType": "ActiveDirectory",
            "login": admin.login,
            "sid": admin.object_id,
            "tenantId": admin.tenant_id,
            "identityResourceId": admin.identity_resource_id,
        },
    }


def _database_json(server: MysqlServer, database: str) -> dict[str, Any]:
    return {
        "id": f"{server.id}/databases/{database}",
        "name": database,
        "type": f"{PROVIDER}/flexibleServers/databases",
        "properties": {"charset": "utf8mb4", "collation": "utf8mb4_0900_ai_ci"},
    }


class MysqlApi:
    """The flexible-server routes the product calls (api-version 2024-12-30)."""

    def __init__(self, estate: Estate, events: EventLog) -> None:
        self._estate = estate
        self._events = events
        self._operations = AsyncOperations(PROVIDER, API_VERSION)

    def routes(self) -> list[Route]:
        admin = _SERVER + "/administrators/{administrator}"
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
        return ArmResponse(200, server_json(self._server(request)))

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
        admins = [] if server.administrator is None else [_administrator_json(server, server.administrator)]
        return paged(request, admins, page_size=PAGE_SIZE)

    def get_administrator(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        name = request.params["administrator"]
        if server.administrator is None or key(name) != key(ADMINISTRATOR_NAME):
            raise resource_not_found(
                f"{PROVIDER}/flexibleServers/{server.name}/administrators/{name}", server.resource_group
            )
        return ArmResponse(200, _administrator_json(server, server.administrator))

    def put_administrator(self, request: ArmRequest) -> ArmResponse:
        """Set the server's administrator, replacing the current one: Azure keeps exactly one."""
        server = self._server(request)
        _require_administrator_name(request)
        properties = request.json_object().get("properties")
        if not isinstance(properties, dict):
            raise bad_request("The 'properties' object is required.", code="InvalidRequestContent")
        login, sid = properties.get("login"), properties.get("sid")
        if str(properties.get("administratorType", "")).lower() != "activedirectory":
            raise bad_request("properties.administratorType must be 'ActiveDirectory'.", code="InvalidParameterValue")
        if not isinstance(login, str) or not login or not isinstance(sid, str) or not sid:
            raise bad_request("properties.login and properties.sid are required.", code="InvalidParameterValue")
        server.administrator = MysqlAdministrator(
            object_id=sid,
            login=login,
            tenant_id=str(properties.get("tenantId") or self._estate.tenant_id),
            identity_resource_id=str(properties.get("identityResourceId") or server.identity_resource_id),
        )
        self._events.emit(request.actor, _administrator_id(server), f"{_ADMINISTRATORS}/write")
        return self._operations.accepted(
            request, server.location, result=_administrator_json(server, server.administrator)
        )

    def delete_administrator(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        _require_administrator_name(request)
        if server.administrator is None:
            return ArmResponse(204)
        server.administrator = None
        self._events.emit(request.actor, _administrator_id(server), f"{_ADMINISTRATORS}/delete")
        return self._operations.accepted(request, server.location)

    def _server(self, request: ArmRequest) -> MysqlServer:
        p = request.params
        server_id = _SERVER.format(subscription=p["subscription"], group=p["group"], name=p["name"])
        return self._estate.find(self._estate.mysql_servers, server_id)


def _require_administrator_name(request: ArmRequest) -> None:
    if key(request.params["administrator"]) != key(ADMINISTRATOR_NAME):
        raise bad_request(
            f"The administrator name must be '{ADMINISTRATOR_NAME}', not '{request.params['administrator']}'.",
            code="InvalidParameterValue",
        )
