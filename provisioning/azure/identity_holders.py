"""Who still holds an Entra identity: live sites, slots and user-assigned identities, by Resource Graph.

Before a database principal is rebound, the planner must know whether the identity it is bound to is
still live — a namesake app's, whose access a rebind would take over — or gone (the app was deleted
and created again). Microsoft Graph would answer it, but the product makes no Graph call; ARM holds
the answer too:

- a site's or slot's system identity object id is its ``identity.principalId``; a user-assigned
  identity's object and client ids are its ``properties.principalId`` and ``properties.clientId``
  (REST specs: Microsoft.Web ``ManagedServiceIdentity``; Microsoft.ManagedIdentity
  ``UserAssignedIdentityProperties``). Resource Graph's ``resources`` table holds both resource types
  with these properties (Microsoft Learn, "Azure Resource Graph table and resource type reference"),
  so ONE query finds every live holder of an object id, or a user-assigned identity by client id;
- a site or slot that wears a user-assigned identity lists it under ``identity.userAssignedIdentities``,
  a map of identity id to ``{principalId, clientId}`` (Microsoft.Web ``ManagedServiceIdentity``): the
  same query finds it by the map's text (``contains``), so a live slot wearing the identity of a deleted
  app (even one created for that app) holds it;
- a system identity's client id is on no site resource (only ``identities/default`` has it,
  Microsoft.ManagedIdentity ``SystemAssignedIdentities_GetByScope``). Client-id bindings (MySQL, Azure
  SQL) of system identities are therefore checked on the sites that can own the principal: its name
  is the site name (``principal_names``), so the query also returns the same-named sites or slots,
  and each one's ``identities/default`` is read (a GET per namesake, usually none).

Resource Graph shows only what the function may read, and lags ARM by seconds: docs/permissions.md
says why its Reader scope must cover every app that may share the catalog's servers.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import azure_errors, client_options
from provisioning.azure.identities import OWNER_TAG
from provisioning.config import Config
from provisioning.errors import NotFound
from provisioning.models import BindingKind, IdentityHolder
from provisioning.ports import IdentitiesPort
from provisioning.resource_ids import AppRef, parse_app_id

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

SITE_TYPES = ("microsoft.web/sites", "microsoft.web/sites/slots")
USER_IDENTITY_TYPE = "microsoft.managedidentity/userassignedidentities"
PAGE_SIZE = 1000


def holders_query(binding: str, *, kind: BindingKind, app: AppRef) -> str:
    """KQL for the live resources that hold ``binding``; ``binding`` must be a GUID (it is quoted)."""
    value = str(uuid.UUID(binding)).lower()  # refuses anything but a GUID: nothing else reaches the query
    terms = [
        f"tostring(properties.principalId) =~ '{value}'",
        f"tostring(properties.clientId) =~ '{value}'",
        f"tostring(identity.userAssignedIdentities) contains '{value}'",
    ]
    if kind is BindingKind.OBJECT_ID:
        terms.insert(0, f"tostring(identity.principalId) =~ '{value}'")
    else:
        terms.append(f"name =~ '{namesake(app)}'")
    types = ", ".join(f"'{t}'" for t in (*SITE_TYPES, USER_IDENTITY_TYPE))
    return f"resources | where type in~ ({types}) | where {' or '.join(terms)} | project id, type, name, identity, tags"


def namesake(app: AppRef) -> str:
    """Resource Graph's name of a site, or of a slot (``site/slot``); ARM names hold no quote."""
    name = app.site if app.slot is None else f"{app.site}/{app.slot}"
    return name.replace("'", "")


class IdentityHolders:
    def __init__(self, credential: TokenCredential, config: Config, identities: IdentitiesPort) -> None:
        self._credential = credential
        self._config = config
        self._identities = identities

    def list_holders(self, binding: str, *, kind: BindingKind, app: AppRef) -> tuple[IdentityHolder, ...]:
        """Live sites, slots and user-assigned identities that hold ``binding`` (object or client id).
        ``app`` itself is reported when it holds it (the planner tells own from foreign)."""
        from azure.mgmt.resourcegraph import ResourceGraphClient
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        client: Any = ResourceGraphClient(self._credential, **client_options(self._config))
        query = holders_query(binding, kind=kind, app=app)
        wanted = binding.lower()
        found: list[IdentityHolder] = []
        skip_token: str | None = None
        while True:
            request = QueryRequest(  # no subscriptions: every one the function can read
                query=query,
                options=QueryRequestOptions(top=PAGE_SIZE, skip_token=skip_token, result_format="objectArray"),
            )
            with azure_errors("query Azure Resource Graph for the holders of an identity"):
                page = client.resources(request)
            for row in page.data or []:
                holder = self._holder(row, wanted, kind)
                if holder is not None:
                    found.append(holder)
            skip_token = page.skip_token
            if not skip_token:
                return tuple(found)

    def _holder(self, row: dict[str, Any], wanted: str, kind: BindingKind) -> IdentityHolder | None:
        rid = str(row["id"])
        if str(row.get("type", "")).lower() == USER_IDENTITY_TYPE:
            tags = {str(k).lower(): str(v) for k, v in (row.get("tags") or {}).items()}
            return IdentityHolder(rid, owner=tags.get(OWNER_TAG))
        identity = row.get("identity") or {}
        if str(identity.get("principalId") or "").lower() == wanted:
            return IdentityHolder(rid)
        worn = (identity.get("userAssignedIdentities") or {}).values()
        if any(wanted in (str(u.get("principalId") or "").lower(), str(u.get("clientId") or "").lower()) for u in worn):
            return IdentityHolder(rid)
        system_on = "systemassigned" in str(identity.get("type") or "").lower().replace(" ", "")
        if kind is BindingKind.CLIENT_ID and system_on:  # a namesake: its client id is not in the graph
            try:
                client_id = self._identities.get_system_client_id(parse_app_id(rid, field="resource graph row id"))
            except NotFound:
                return None  # deleted since the graph saw it
            if client_id == wanted:
                return IdentityHolder(rid)
        return None
