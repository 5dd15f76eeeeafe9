"""Microsoft.Sql logical servers: the server, its databases and its one Entra administrator.

As in Azure, a server has at most one Microsoft Entra administrator, the child resource named
`ActiveDirectory`: a PUT replaces whoever held it. Administrator writes are long-running
operations; azure-mgmt-sql reads the final state with a GET of the resource once the operation
reports success. Every emulated server is Microsoft Entra-only (no SQL authentication).

There is no SQL Server behind an emulated server: `fullyQualifiedDomainName` is the name a real
server would have, and tests give the product a recording DB-API connection instead.
"""

from __future__ import annotations

from typing import Any

from emulator.errors import bad_request, resource_not_found
from emulator.estate import Estate, SqlAdministrator, SqlServer, key, stable_uuid
from emulator.events import EventLog
from emulator.operations import AsyncOperations
from emulator.server import ArmRequest, ArmResponse, Route, arm_route, paged

API_VERSION = "2025-01-01"  # what azure-mgmt-sql 4.0.0 sends
PAGE_SIZE = 50
PROVIDER = "Microsoft.Sql"
ADMINISTRATOR_NAME = "ActiveDirectory"
SYSTEM_DATABASE = "master"  # listed first by Azure, as a system database
_SERVER = "/subscriptions/{subscription}/resourceGroups/{group}/providers/" + PROVIDER + "/servers/{name}"
_ADMINISTRATORS = f"{PROVIDER}/servers/administrators"


def _administrator_properties(admin: SqlAdministrator) -> dict[str, Any]:
    return {
        "administratorType": "ActiveDirectory",
        "login": admin.login,
        "sid": admin.object_id,
        "tenantId": admin.tenant_id,
        "azureADOnlyAuthentication": True,
    }


def server_json(server: SqlServer) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "version": "12.0",
        "state": "Ready",
        "fullyQualifiedDomainName": server.fqdn,
        "minimalTlsVersion": "1.2",
        "publicNetworkAccess": "Enabled",
        "restrictOutboundNetworkAccess": "Disabled",
    }
    admin = server.administrator
    if admin is not None:  # the server's own view of its admin also says what kind of principal it is
        properties["administrators"] = _administrator_properties(admin) | (
            {"principalType": admin.principal_type} if admin.principal_type else {}
        )
    return {
        "id": server.id,
        "name": server.name,
        "type": f"{PROVIDER}/servers",
        "location": server.location,
        "kind": "v12.0",
        "tags": {},
        "properties": properties,
    }


def _administrator_id(server: SqlServer) -> str:
    return f"{server.id}/administrators/{ADMINISTRATOR_NAME}"


def _administrator_json(server: SqlServer, admin: SqlAdministrator) -> dict[str, Any]:
    return {
        "id": _administrator_id(server),
        "name": ADMINISTRATOR_NAME,
        "type": _ADMINISTRATORS,
        "properties": _administrator_properties(admin),
    }


def _database_json(server: SqlServer, database: str) -> dict[str, Any]:
    system = database == SYSTEM_DATABASE
    return {
        "id": f"{server.id}/databases/{database}",
        "name": database,
        "type": f"{PROVIDER}/servers/databases",
        "location": server.location,
        "kind": "v12.0,system" if system else "v12.0,user",
        "sku": {"name": "System", "tier": "System"}
        if system
        else {"name": "GP_S_Gen5", "tier": "GeneralPurpose", "family": "Gen5", "capacity": 1},
        "properties": {
            "collation": "SQL_Latin1_General_CP1_CI_AS",
            "status": "Online",
            "databaseId": stable_uuid(server.id, database),
        },
    }


class SqlServersApi:
    """The logical-server routes the product calls (api-version 2025-01-01)."""

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
            *self._operations.routes(),
        ]

    def get_server(self, request: ArmRequest) -> ArmResponse:
        return ArmResponse(200, server_json(self._server(request)))

    def list_databases(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        names = [SYSTEM_DATABASE, *server.databases]
        return paged(request, [_database_json(server, d) for d in names], page_size=PAGE_SIZE)

    def get_database(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        wanted = request.params["database"]
        for database in [SYSTEM_DATABASE, *server.databases]:
            if key(database) == key(wanted):
                return ArmResponse(200, _database_json(server, database))
        raise resource_not_found(f"{PROVIDER}/servers/{server.name}/databases/{wanted}", server.resource_group)

    def list_administrators(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        admins = [] if server.administrator is None else [_administrator_json(server, server.administrator)]
        return paged(request, admins, page_size=PAGE_SIZE)

    def get_administrator(self, request: ArmRequest) -> ArmResponse:
        server = self._server(request)
        name = request.params["administrator"]
        if server.administrator is None or key(name) != key(ADMINISTRATOR_NAME):
            raise resource_not_found(f"{PROVIDER}/servers/{server.name}/administrators/{name}", server.resource_group)
        return ArmResponse(200, _administrator_json(server, server.administrator))

    def put_administrator(self, request: ArmRequest) -> ArmResponse:
        """Set the server's administrator, replacing the current one: Azure keeps exactly one.

        The body carries no principal type (Azure looks the sid up in the directory); the emulator
        keeps the type when the sid is unchanged and otherwise leaves it unknown.
        """
        server = self._server(request)
        if key(request.params["administrator"]) != key(ADMINISTRATOR_NAME):
            raise bad_request(
                f"The administrator name must be '{ADMINISTRATOR_NAME}', not '{request.params['administrator']}'.",
                code="InvalidParameterValue",
            )
        properties = request.json_object().get("properties")
        if not isinstance(properties, dict):
            raise bad_request("The 'properties' object is required.", code="InvalidRequestContent")
        login, sid = properties.get("login"), properties.get("sid")
        if str(properties.get("administratorType", "")).lower() != "activedirectory":
            raise bad_request("properties.administratorType must be 'ActiveDirectory'.", code="InvalidParameterValue")
        if not isinstance(login, str) or not login or not isinstance(sid, str) or not sid:
            raise bad_request("properties.login and properties.sid are required.", code="InvalidParameterValue")
        current = server.administrator
        server.administrator = SqlAdministrator(
            object_id=sid,
            login=login,
            tenant_id=str(properties.get("tenantId") or self._estate.tenant_id),
            principal_type=current.principal_type if current and key(current.object_id) == key(sid) else None,
        )
        self._events.emit(request.actor, _administrator_id(server), f"{_ADMINISTRATORS}/write")
        return self._operations.accepted(request, server.location)

    def _server(self, request: ArmRequest) -> SqlServer:
        p = request.params
        server_id = _SERVER.format(subscription=p["subscription"], group=p["group"], name=p["name"])
        return self._estate.find(self._estate.sql_servers, server_id)
