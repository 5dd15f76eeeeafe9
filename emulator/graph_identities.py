"""Resource Graph queries for who holds an Entra identity: sites, slots and user-assigned identities.

The product asks, before it rebinds a database principal, whether the identity the principal is
bound to is still live (provisioning/azure/identity_holders.py). The emulator evaluates exactly the
query shape it sends, as Resource Graph would, and refuses any other:

    resources
    | where type in~ ('microsoft.web/sites', ..., 'microsoft.managedidentity/userassignedidentities')
    | where tostring(identity.principalId) =~ '<guid>' or ... or name =~ '<name>'
            or tostring(identity.userAssignedIdentities) contains '<guid>'
    | project id, type, name, identity, tags

Rows are the resources' ARM representations as Resource Graph keeps them (lower-case `type`, `name`
of a slot as `site/slot`, `identity` of sites, `properties.principalId`/`clientId` of user-assigned
identities, `tags`); `=~` and `in~` compare case-insensitively, and `contains` finds a case-insensitive
substring of `tostring()` (JSON text for an object), as KQL defines them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from emulator.errors import bad_request
from emulator.estate import Estate, key
from emulator.sites import identity_json

USER_IDENTITY_TYPE = "microsoft.managedidentity/userassignedidentities"
_TYPES = re.compile(r"\|\s*where\s+type\s+in~\s*\((?P<types>[^)]*)\)")
_WHERE = re.compile(r"\|\s*where\s+(?!type\s+in~)(?P<terms>.+?)\s*(?=\||$)", re.DOTALL)
_TERM = re.compile(r"^(?:tostring\((?P<path>[A-Za-z_.]+)\)|(?P<name>name))\s*(?P<op>=~|contains)\s*'(?P<value>[^']*)'$")


def asks_for_identity_holders(query: str) -> bool:
    """Whether this is the product's identity-holder query (it names user-assigned identities)."""
    return USER_IDENTITY_TYPE in query.lower()


def identity_holder_rows(estate: Estate, query: str, subscriptions: set[str]) -> list[dict[str, Any]]:
    types_match = _TYPES.search(query)
    where = [m for m in _WHERE.finditer(query)]
    if types_match is None or len(where) != 1:
        raise bad_request("The emulator evaluates only the identity-holder query shape.", code="InvalidQuery")
    types = {t.strip().strip("'").lower() for t in types_match.group("types").split(",")}
    terms = []
    for raw in re.split(r"\s+or\s+", where[0].group("terms").strip()):
        term = _TERM.match(raw.strip())
        if term is None:
            raise bad_request(f"Unsupported term in the where clause: {raw.strip()!r}.", code="InvalidQuery")
        terms.append((term.group("path") or "name", term.group("op"), term.group("value").lower()))
    rows = [row for row in _rows(estate) if key(row["subscriptionId"]) in subscriptions and row["type"] in types]
    return sorted((row for row in rows if any(_holds(row, *term) for term in terms)), key=_id_key)


def _holds(row: dict[str, Any], path: str, op: str, value: str) -> bool:
    text = _lookup(row, path)
    return value in text if op == "contains" else text == value


def _lookup(row: dict[str, Any], path: str) -> str:
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    return (json.dumps(value) if isinstance(value, dict | list) else str(value)).lower()


def _id_key(row: dict[str, Any]) -> str:
    return key(row["id"])


def _rows(estate: Estate) -> Iterator[dict[str, Any]]:
    for site in estate.sites.values():
        identity = identity_json(site, estate)
        yield {
            "id": site.id,
            "name": site.name if site.slot is None else f"{site.name}/{site.slot}",
            "type": "microsoft.web/sites" if site.slot is None else "microsoft.web/sites/slots",
            "subscriptionId": site.subscription_id,
            "resourceGroup": site.resource_group.lower(),
            "tags": dict(site.tags),
            **({"identity": identity} if identity is not None else {}),
        }
    for user in estate.user_identities.values():
        yield {
            "id": user.id,
            "name": user.name,
            "type": USER_IDENTITY_TYPE,
            "subscriptionId": user.subscription_id,
            "resourceGroup": user.resource_group.lower(),
            "tags": dict(user.tags),
            "properties": {
                "tenantId": estate.tenant_id,
                "principalId": user.principal.object_id,
                "clientId": user.principal.client_id,
            },
        }
