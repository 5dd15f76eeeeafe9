"""Azure Resource Graph `resources` queries, for the audit's discovery of tagged sites and slots.

There is no KQL engine here. The emulator answers the one kind of query the product sends, and
treats the query text as opaque except for tag names:

- the rows are every web app and slot (`microsoft.web/sites`, `microsoft.web/sites/slots`) in the
  requested subscriptions (all of the estate's when none are named), ordered by id;
- if the query names tags as `tags['key']`, `tags["key"]` or `tags.key`, only rows carrying at
  least one of those tag keys (compared case-insensitively) are returned;
- each row is `{id, name, type, kind, location, resourceGroup, subscriptionId, tags, identity,
  linuxFxVersion}` with the type and resource group in lower case, as Resource Graph returns them;
  `identity` is the resource's identity block (absent when it has none) and `linuxFxVersion` answers
  the product's projection `linuxFxVersion = tostring(properties.siteConfig.linuxFxVersion)`;
- `options.$top` (at most 1000, the default) and `options.$skipToken` page the rows; only the
  `objectArray` result format is served.

The identity-holder query the product sends before a rebind is evaluated by `graph_identities`.

The per-user quota (15 queries per 5 seconds) is reported in `x-ms-user-quota-remaining`, not enforced.
"""

from __future__ import annotations

import collections
import re
import time
from typing import Any

from emulator.errors import bad_request
from emulator.estate import Estate, Site, key
from emulator.graph_identities import asks_for_identity_holders, identity_holder_rows
from emulator.server import ArmRequest, ArmResponse, Route, arm_route, decode_skip_token, encode_skip_token
from emulator.sites import identity_json

API_VERSION = "2021-03-01"
MAX_ROWS = 1000
QUOTA = 15
QUOTA_WINDOW_S = 5.0
_TAG_REFERENCE = re.compile(r"""\btags\s*(?:\[\s*(['"])(?P<quoted>.+?)\1\s*\]|\.(?P<bare>[A-Za-z_]\w*))""")


def _row(site: Site, estate: Estate) -> dict[str, Any]:
    identity = identity_json(site, estate)
    return {
        "id": site.id,
        "name": site.name if site.slot is None else f"{site.name}/{site.slot}",
        "type": "microsoft.web/sites" if site.slot is None else "microsoft.web/sites/slots",
        "kind": "app,linux",
        "location": site.location,
        "resourceGroup": site.resource_group.lower(),
        "subscriptionId": site.subscription_id,
        "tags": dict(site.tags),
        **({"identity": identity} if identity is not None else {}),
        "linuxFxVersion": site.linux_fx_version,
    }


def tag_keys(query: str) -> set[str]:
    """The tag keys a query refers to, lower-cased."""
    return {(m.group("quoted") or m.group("bare")).lower() for m in _TAG_REFERENCE.finditer(query)}


class ResourceGraphApi:
    """`POST /providers/Microsoft.ResourceGraph/resources` (api-version 2021-03-01)."""

    def __init__(self, estate: Estate) -> None:
        self._estate = estate
        self._recent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)

    def routes(self) -> list[Route]:
        return [arm_route("POST", "/providers/Microsoft.ResourceGraph/resources", API_VERSION, self.resources)]

    def resources(self, request: ArmRequest) -> ArmResponse:
        body = request.json_object()
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise bad_request("The query is required.", code="InvalidQuery")
        options = body.get("options") or {}
        if options.get("resultFormat", "objectArray") != "objectArray":
            raise bad_request("The emulator serves only the objectArray result format.", code="InvalidQuery")
        top = options.get("$top") or MAX_ROWS
        if not isinstance(top, int) or not 0 < top <= MAX_ROWS:
            raise bad_request(f"$top must be between 1 and {MAX_ROWS}.", code="InvalidQuery")
        offset = decode_skip_token(options.get("$skipToken"))
        if asks_for_identity_holders(query):
            rows = identity_holder_rows(self._estate, query, self._scope(body.get("subscriptions")))
        else:
            rows = [
                _row(site, self._estate) for site in self._matching_sites(body.get("subscriptions"), tag_keys(query))
            ]
        page = rows[offset : offset + top]
        result: dict[str, Any] = {
            "totalRecords": len(rows),
            "count": len(page),
            "data": page,
            "facets": [],
            "resultTruncated": "false",
        }
        if offset + top < len(rows):
            result["$skipToken"] = encode_skip_token(offset + top)
        return ArmResponse(
            200,
            result,
            headers={
                "x-ms-user-quota-remaining": str(self._quota_remaining(str(request.claims.get("oid")))),
                "x-ms-user-quota-resets-after": "00:00:05",
            },
        )

    def _scope(self, subscriptions: Any) -> set[str]:
        if subscriptions is None:
            return set(self._estate.subscriptions)
        if isinstance(subscriptions, list) and all(isinstance(s, str) for s in subscriptions):
            return {key(s) for s in subscriptions}
        raise bad_request("'subscriptions' must be a list of subscription ids.", code="InvalidQuery")

    def _matching_sites(self, subscriptions: Any, wanted_tags: set[str]) -> list[Site]:
        scope = self._scope(subscriptions)
        sites = (
            site
            for site in self._estate.sites.values()
            if key(site.subscription_id) in scope
            and (not wanted_tags or any(k.lower() in wanted_tags for k in site.tags))
        )
        return sorted(sites, key=lambda site: key(site.id))

    def _quota_remaining(self, caller: str) -> int:
        now = time.monotonic()
        recent = self._recent[caller]
        while recent and recent[0] <= now - QUOTA_WINDOW_S:
            recent.popleft()
        recent.append(now)
        return max(0, QUOTA - len(recent))
