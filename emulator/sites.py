"""Microsoft.Web sites and slots: get, list, PATCH (identity, tags) and app settings.

The identity rules are ARM's, including the one that bites: a PATCH whose identity type leaves
out `UserAssigned` detaches every user-assigned identity.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from emulator.errors import ArmError, bad_request
from emulator.estate import Estate, Principal, Site, key, new_uuid
from emulator.events import Actor, EventLog
from emulator.server import ArmRequest, ArmResponse, Route, arm_route, paged

API_VERSION = "2025-05-01"
PAGE_SIZE = 50
_SITE = "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Web/sites/{name}"
_SLOT = _SITE + "/slots/{slot}"
_RESOURCE_GROUPS = re.compile("/resourcegroups/", re.IGNORECASE)
_IDENTITY_TYPES = {"none", "systemassigned", "userassigned", "systemassigned,userassigned"}


def operation_name(site: Site, action: str) -> str:
    """`Microsoft.Web/sites/write`, `Microsoft.Web/sites/slots/config/write`, ... for events."""
    return f"Microsoft.Web/sites/{'' if site.slot is None else 'slots/'}{action}"


def app_settings_id(site: Site) -> str:
    return f"{site.id}/config/appsettings"


# Display names of the regions the estates use: ARM answers a resource's `location` as its region's
# display name ("France Central", "East US 2" in recorded-arm/site_get*.json), whatever was sent.
_DISPLAY_LOCATIONS = {
    "westeurope": "West Europe",
    "northeurope": "North Europe",
    "francecentral": "France Central",
    "germanywestcentral": "Germany West Central",
    "swedencentral": "Sweden Central",
    "uksouth": "UK South",
    "eastus": "East US",
    "eastus2": "East US 2",
    "westus": "West US",
    "westus2": "West US 2",
}


def display_location(location: str) -> str:
    return _DISPLAY_LOCATIONS.get(location.replace(" ", "").lower(), location)


def site_json(site: Site, estate: Estate) -> dict[str, Any]:
    """The site as ARM's GET returns it (the part of it the product reads, plus the usual frame), as
    recorded (`recorded-arm/site_get*.json`): `location` a display name, no `tags` key at all on an
    untagged site, `siteConfig` present with `linuxFxVersion` (nearly every other field null there)."""
    host = f"{site.name}.azurewebsites.net" if site.slot is None else f"{site.name}-{site.slot}.azurewebsites.net"
    name = site.name if site.slot is None else f"{site.name}/{site.slot}"
    body: dict[str, Any] = {
        "id": site.id,
        "name": name,
        "type": "Microsoft.Web/sites" if site.slot is None else "Microsoft.Web/sites/slots",
        "kind": site.kind,
        "location": display_location(site.location),
        **({"tags": dict(site.tags)} if site.tags else {}),
        "properties": {
            "name": name,
            "state": "Running",
            "enabled": True,
            "hostNames": [host],
            "enabledHostNames": [host, host.replace(".azurewebsites.net", ".scm.azurewebsites.net")],
            "defaultHostName": host,
            "resourceGroup": site.resource_group,
            "reserved": True,
            "httpsOnly": True,
            "kind": site.kind,
            "tags": dict(site.tags) if site.tags else None,
            "siteConfig": {"linuxFxVersion": site.linux_fx_version, "windowsFxVersion": None, "appSettings": None},
            "keyVaultReferenceIdentity": site.key_vault_reference_identity,
        },
    }
    identity = identity_json(site, estate)
    if identity is not None:
        body["identity"] = identity
    return body


def site_etag(site: Site, estate: Estate) -> str:
    """An opaque version of the site, quoted, as the recorded `etag` header (`"1DACF328784670B"`)."""
    digest = hashlib.sha1(json.dumps(site_json(site, estate), sort_keys=True).encode(), usedforsecurity=False)
    return f'"{digest.hexdigest()[:15].upper()}"'


def identity_json(site: Site, estate: Estate) -> dict[str, Any] | None:
    types = (["SystemAssigned"] if site.system_identity else []) + (["UserAssigned"] if site.user_identities else [])
    if not types:
        return None
    identity: dict[str, Any] = {"type": ", ".join(types)}
    if site.system_identity is not None:
        identity["tenantId"] = estate.tenant_id
        identity["principalId"] = site.system_identity.object_id
    if site.user_identities:
        attached = (estate.user_identities[key(resource_id)] for resource_id in site.user_identities)
        identity["userAssignedIdentities"] = {  # keys re-cased by ARM (recorded: /resourcegroups/)
            _RESOURCE_GROUPS.sub("/resourcegroups/", user.id): {
                "principalId": user.principal.object_id,
                "clientId": user.principal.client_id,
            }
            for user in attached
        }
    return identity


def settings_json(site: Site) -> dict[str, Any]:
    return {
        "id": app_settings_id(site),
        "name": "appsettings",
        "type": "Microsoft.Web/sites/config" if site.slot is None else "Microsoft.Web/sites/slots/config",
        "location": site.location,
        "properties": dict(site.app_settings),
    }


def write_app_settings(site: Site, settings: dict[str, str], events: EventLog, actor: Actor) -> None:
    site.app_settings = settings
    events.emit(actor, app_settings_id(site), operation_name(site, "config/write"))


class SitesApi:
    """The Microsoft.Web routes the product calls (api-version 2025-05-01)."""

    def __init__(self, estate: Estate, events: EventLog) -> None:
        self._estate = estate
        self._events = events
        self._pending: dict[str, int] = {}  # accepted PATCH operations: polls left answering 202

    def routes(self) -> list[Route]:
        routes = [
            arm_route(
                "GET", "/subscriptions/{subscription}/providers/Microsoft.Web/sites", API_VERSION, self.list_sites
            ),
            arm_route("GET", _SITE + "/slots", API_VERSION, self.list_slots),
        ]
        for template in (_SITE, _SLOT):
            routes += [
                arm_route("GET", template, API_VERSION, self.get),
                arm_route("PATCH", template, API_VERSION, self.update),
                arm_route("GET", template + "/operationresults/{operation}", API_VERSION, self.operation_result),
                arm_route("POST", template + "/config/appsettings/list", API_VERSION, self.list_app_settings),
                arm_route("PUT", template + "/config/appsettings", API_VERSION, self.update_app_settings),
            ]
        return routes

    def list_sites(self, request: ArmRequest) -> ArmResponse:
        subscription = request.params["subscription"]
        self._estate.require_subscription(subscription)
        sites = sorted(
            (s for s in self._estate.sites.values() if s.slot is None and key(s.subscription_id) == key(subscription)),
            key=lambda s: key(s.id),
        )
        return paged(request, [site_json(s, self._estate) for s in sites], page_size=PAGE_SIZE)

    def list_slots(self, request: ArmRequest) -> ArmResponse:
        slots = sorted(self._estate.slots_of(self._site(request)), key=lambda s: key(s.id))
        return paged(request, [site_json(s, self._estate) for s in slots], page_size=PAGE_SIZE)

    def get(self, request: ArmRequest) -> ArmResponse:
        site = self._site(request)
        return ArmResponse(200, site_json(site, self._estate), headers={"ETag": site_etag(site, self._estate)})

    def update(self, request: ArmRequest) -> ArmResponse:
        site = self._site(request)
        body = request.json_object()
        tags = _string_map(body["tags"], "tags") if "tags" in body else site.tags
        if body.get("identity") is not None:
            site.system_identity, site.user_identities = self._planned_identity(site, body["identity"])
        reference_identity = (body.get("properties") or {}).get("keyVaultReferenceIdentity")
        if isinstance(reference_identity, str) and reference_identity:
            site.key_vault_reference_identity = reference_identity
        site.tags = tags
        self._events.emit(request.actor, site.id, operation_name(site, "write"))
        if "azurecontainerapps" in site.kind.lower():
            return self._accepted(request, site)
        return ArmResponse(200, site_json(site, self._estate), headers={"ETag": site_etag(site, self._estate)})

    def _accepted(self, request: ArmRequest, site: Site) -> ArmResponse:
        """A Container-Apps-hosted app answers a PATCH 202 with an empty body and a `Location` under
        the site, and the poll answers 202 (empty) while in progress (`recorded-arm/site_patch_async.json`).
        The change is applied at once; what the finished poll answers is not recorded (assumed: 200 with
        the site, as ARM's asynchronous-operation guidance allows)."""
        operation = new_uuid()
        self._pending[operation] = 1
        location = f"{request.base_url}{site.id}/operationresults/{operation}?api-version={API_VERSION}"
        return ArmResponse(202, None, headers={"Location": location})

    def operation_result(self, request: ArmRequest) -> ArmResponse:
        site = self._site(request)
        operation = request.params["operation"]
        if operation not in self._pending:
            raise ArmError(404, "NotFound", f"The operation '{operation}' was not found.")
        if self._pending[operation] > 0:
            self._pending[operation] -= 1
            return ArmResponse(202, None, headers={"Location": request.base_url + request.target})
        return ArmResponse(200, site_json(site, self._estate))

    def list_app_settings(self, request: ArmRequest) -> ArmResponse:
        return ArmResponse(200, settings_json(self._site(request)))

    def update_app_settings(self, request: ArmRequest) -> ArmResponse:
        site = self._site(request)
        settings = _string_map(request.json_object().get("properties") or {}, "properties")
        write_app_settings(site, settings, self._events, request.actor)
        return ArmResponse(200, settings_json(site))

    def _site(self, request: ArmRequest) -> Site:
        p = request.params
        site_id = _SITE.format(subscription=p["subscription"], group=p["group"], name=p["name"])
        if "slot" in p:
            site_id += f"/slots/{p['slot']}"
        return self._estate.find(self._estate.sites, site_id)

    def _planned_identity(self, site: Site, identity: Any) -> tuple[Principal | None, list[str]]:
        """(system identity, attached user identities) after a PATCH with this `identity`."""
        if not isinstance(identity, dict) or not isinstance(identity.get("type"), str):
            raise bad_request("identity.type is required.", code="InvalidIdentityType")
        identity_type = identity["type"].replace(" ", "").lower()
        if identity_type not in _IDENTITY_TYPES:
            raise bad_request(f"The identity type '{identity['type']}' is invalid.", code="InvalidIdentityType")
        changes = identity.get("userAssignedIdentities") or {}
        if not isinstance(changes, dict):
            raise bad_request("identity.userAssignedIdentities must be an object.", code="InvalidIdentity")
        if changes and "userassigned" not in identity_type:
            raise bad_request(
                "userAssignedIdentities may be set only when the identity type includes UserAssigned.",
                code="InvalidIdentity",
            )
        system = None
        if "systemassigned" in identity_type:  # kept if already on; a new principal if switched on
            system = site.system_identity or self._estate.mint_principal()
        if "userassigned" not in identity_type:
            return system, []
        attached = {key(resource_id): resource_id for resource_id in site.user_identities}
        for resource_id, value in changes.items():
            if value is None:  # PATCH semantics: null detaches, absent keeps
                attached.pop(key(resource_id), None)
                continue
            user = self._estate.user_identities.get(key(resource_id))
            if user is None:
                raise bad_request(f"The user-assigned identity '{resource_id}' was not found.", code="InvalidIdentity")
            attached[key(user.id)] = user.id
        if not attached:
            raise bad_request(
                "Identity type UserAssigned needs at least one user-assigned identity.", code="InvalidIdentity"
            )
        return system, list(attached.values())


def _string_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad_request(f"'{name}' must be an object of string values.", code="InvalidRequestContent")
    return dict(value)
