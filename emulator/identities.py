"""Microsoft.ManagedIdentity: a site's system identity (`identities/default`) and user-assigned ones.

`identities/default` is how the product learns a system identity's client id without Microsoft
Graph: the site itself only reports the principal (object) id.
"""

from __future__ import annotations

from typing import Any

from emulator.errors import bad_request, resource_not_found
from emulator.estate import Estate, UserIdentity, group_id, key, user_identity_id
from emulator.events import EventLog
from emulator.server import ArmRequest, ArmResponse, Route, arm_route

API_VERSION = "2024-11-30"
_USER_IDENTITY = (
    "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.ManagedIdentity"
    "/userAssignedIdentities/{name}"
)


def user_identity_json(identity: UserIdentity, tenant_id: str) -> dict[str, Any]:
    return {
        "id": identity.id,
        "name": identity.name,
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
        "location": identity.location,
        "tags": dict(identity.tags),
        "properties": {
            "tenantId": tenant_id,
            "principalId": identity.principal.object_id,
            "clientId": identity.principal.client_id,
            "isolationScope": "None",
        },
    }


class IdentitiesApi:
    """The Microsoft.ManagedIdentity routes the product calls (api-version 2024-11-30)."""

    def __init__(self, estate: Estate, events: EventLog) -> None:
        self._estate = estate
        self._events = events

    def routes(self) -> list[Route]:
        return [
            arm_route(
                "GET",
                "{scope*}/providers/Microsoft.ManagedIdentity/identities/default",
                API_VERSION,
                self.get_system_identity,
            ),
            arm_route("GET", _USER_IDENTITY, API_VERSION, self.get_user_identity),
            arm_route("PUT", _USER_IDENTITY, API_VERSION, self.put_user_identity),
        ]

    def get_system_identity(self, request: ArmRequest) -> ArmResponse:
        site = self._estate.find(self._estate.sites, request.params["scope"])
        identity = site.system_identity
        if identity is None:
            raise resource_not_found("Microsoft.ManagedIdentity/identities/default", site.resource_group)
        return ArmResponse(
            200,
            {
                "id": f"{site.id}/providers/Microsoft.ManagedIdentity/identities/default",
                "name": "default",
                "type": "Microsoft.ManagedIdentity/identities",
                "location": site.location,
                "tags": {},
                "properties": {
                    "tenantId": self._estate.tenant_id,
                    "principalId": identity.object_id,
                    "clientId": identity.client_id,
                    "clientSecretUrl": (
                        f"https://control-{site.location}.identity.azure.net{site.id}/credentials/v2/identities"
                        f"?tid={self._estate.tenant_id}&oid={identity.object_id}&aid={identity.client_id}"
                    ),
                },
            },
        )

    def get_user_identity(self, request: ArmRequest) -> ArmResponse:
        identity = self._estate.find(self._estate.user_identities, self._id(request))
        return ArmResponse(200, user_identity_json(identity, self._estate.tenant_id))

    def put_user_identity(self, request: ArmRequest) -> ArmResponse:
        """Create (201, with new principal and client ids, as Azure mints them) or update tags (200)."""
        identity_id = self._id(request)
        body = request.json_object()
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise bad_request("The 'location' property is required.", code="LocationRequired")
        tags = body.get("tags") or {}
        if not isinstance(tags, dict):
            raise bad_request("'tags' must be an object.", code="InvalidRequestContent")
        existing = self._estate.user_identities.get(key(identity_id))
        if existing is None:
            p = request.params
            resource_group = self._estate.find(self._estate.resource_groups, group_id(p["subscription"], p["group"]))
            existing = UserIdentity(
                resource_group.subscription_id,
                resource_group.name,
                request.params["name"],
                location,
                self._estate.mint_principal(request.params["name"]),
            )
            self._estate.user_identities[key(identity_id)] = existing
            status = 201
        else:
            status = 200
        existing.tags = {str(k): str(v) for k, v in tags.items()}
        self._events.emit(request.actor, existing.id, "Microsoft.ManagedIdentity/userAssignedIdentities/write")
        return ArmResponse(status, user_identity_json(existing, self._estate.tenant_id))

    def _id(self, request: ArmRequest) -> str:
        p = request.params
        return user_identity_id(p["subscription"], p["group"], p["name"])
