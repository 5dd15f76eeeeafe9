"""Azure Resource Graph `resources` queries (api-version 2021-03-01): the query text is evaluated.

Two tables (Microsoft Learn, "Azure Resource Graph table and resource type reference": `resources`
holds `microsoft.web/sites` and `microsoft.web/sites/slots`; `appserviceresources` holds
`microsoft.web/sites/config/web` and `microsoft.web/sites/slots/config/web`):
- `resources`: one row per web app, slot and user-assigned identity in the requested subscriptions
  (all of the estate's when none are named): `id, name, type, tenantId, kind, location, resourceGroup,
  subscriptionId, managedBy, sku, plan, properties, tags, identity, zones, extendedLocation`; a slot's
  `name` is `site/slot`; a user-assigned identity's `properties` carry its `tenantId`, `principalId`
  and `clientId` (REST spec: Microsoft.ManagedIdentity `UserAssignedIdentityProperties`);
  `type` and `resourceGroup` lower case and `location` the lower-case region name, as Resource
  Graph normalises them; `tags` `{}` when there are none; `identity` null when there is none.
  `properties` carries NO `siteConfig`: App Service keeps site configuration out of the site
  resource, and public reports show `properties.siteConfig` null in Resource Graph;
- `appserviceresources`: the `config/web` row of each app and slot (`id` = the app's id +
  `/config/web`, `name` `web`), whose `properties` are those of the ARM `config/web` resource
  (`linuxFxVersion` ... — the shape of ARM's SiteConfigResource; assumed for Resource Graph).
Tag keys are case-sensitive in `tags['key']`, as in Azure (the official samples contrast it with
`mv-expand bagexpansion=array` for a case-insensitive match).

The query is evaluated by `emulator.kql` (its docstring lists the operators); anything outside that
subset answers 400 `BadRequest` with the `InvalidQuery` detail, as Resource Graph answers a query it
cannot parse (`recorded-arm/graph_query_error.json`). `options.$top` (at most 1000, the default) and
`options.$skipToken` page the rows; only the `objectArray` result format is served; the answer's
`resultTruncated` is the string `"false"`, as recorded. A first page (no skip token) evaluates the
query; the pages after it are cut from the rows that evaluation gave, kept per caller, query and
subscriptions (the last few), so a paged read is one consistent result and costs one evaluation.
Whether Resource Graph's own skip token pins a result is not published; a page whose result is no
longer kept is evaluated afresh, as before.

The per-user quota (15 queries per 5 seconds) is reported in `x-ms-user-quota-remaining`,
`x-ms-user-quota-resets-after` and `x-ms-ratelimit-remaining-tenant-resource-requests` (all recorded),
not enforced. It is a fixed window that starts with a caller's first query: `resets-after` counts down
to its end, when the quota is 15 and `00:00:05` again (Microsoft Learn, "Guidance for throttled requests
in Azure Resource Graph": remaining 10 with `00:00:03` allows 10 queries in the next 3 seconds).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Any

from emulator.errors import ArmError, bad_request
from emulator.estate import Estate, Site, UserIdentity, key
from emulator.kql import QueryError, evaluate
from emulator.server import ArmRequest, ArmResponse, Route, arm_route, decode_skip_token, encode_skip_token
from emulator.sites import identity_json

API_VERSION = "2021-03-01"
MAX_ROWS = 1000
QUOTA = 15
QUOTA_WINDOW_S = 5.0
KEPT_RESULTS = 8  # paged results kept for their later pages
USER_IDENTITY_TYPE = "microsoft.managedidentity/userassignedidentities"


def resources_row(site: Site, estate: Estate) -> dict[str, Any]:
    name = site.name if site.slot is None else f"{site.name}/{site.slot}"
    return {
        "id": site.id,
        "name": name,
        "type": "microsoft.web/sites" if site.slot is None else "microsoft.web/sites/slots",
        "tenantId": estate.tenant_id,
        "kind": site.kind,
        "location": site.location.replace(" ", "").lower(),
        "resourceGroup": site.resource_group.lower(),
        "subscriptionId": site.subscription_id,
        "managedBy": "",
        "sku": None,
        "plan": None,
        "properties": {"name": name, "state": "Running", "enabled": True, "kind": site.kind},
        "tags": dict(site.tags),
        "identity": identity_json(site, estate),
        "zones": None,
        "extendedLocation": None,
    }


def user_identity_row(user: UserIdentity, estate: Estate) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "type": USER_IDENTITY_TYPE,
        "tenantId": estate.tenant_id,
        "kind": "",
        "location": user.location.replace(" ", "").lower(),
        "resourceGroup": user.resource_group.lower(),
        "subscriptionId": user.subscription_id,
        "managedBy": "",
        "sku": None,
        "plan": None,
        "properties": {
            "tenantId": estate.tenant_id,
            "principalId": user.principal.object_id,
            "clientId": user.principal.client_id,
        },
        "tags": dict(user.tags),
        "identity": None,
        "zones": None,
        "extendedLocation": None,
    }


def config_web_row(site: Site, estate: Estate) -> dict[str, Any]:
    return {
        "id": f"{site.id}/config/web",
        "name": "web",
        "type": "microsoft.web/sites/config/web" if site.slot is None else "microsoft.web/sites/slots/config/web",
        "tenantId": estate.tenant_id,
        "kind": "",
        "location": site.location.replace(" ", "").lower(),
        "resourceGroup": site.resource_group.lower(),
        "subscriptionId": site.subscription_id,
        "properties": {"linuxFxVersion": site.linux_fx_version, "numberOfWorkers": 1},
    }


def invalid_query(error: QueryError) -> ArmError:
    """Resource Graph's answer to a query it cannot take, shaped as recorded."""
    return ArmError(
        400,
        "BadRequest",
        "Please provide below info when asking for support: the emulator could not evaluate the query.",
        details=[
            {
                "code": "InvalidQuery",
                "message": "Query is invalid. Please refer to the documentation for the Azure Resource Graph "
                f"service and fix the error before retrying. ({error})",
            },
            {
                "code": "ParserFailure",
                "message": "ParserFailure",
                "line": 1,
                "characterPositionInLine": error.position,
                "token": error.token,
            },
        ],
    )


class ResourceGraphApi:
    """`POST /providers/Microsoft.ResourceGraph/resources` (api-version 2021-03-01)."""

    def __init__(self, estate: Estate) -> None:
        self._estate = estate
        self._windows: dict[str, tuple[float, int]] = {}  # caller -> (window start, queries in it)
        self.quota = QUOTA  # queries per window per caller; tests about other things may raise it
        self._results: OrderedDict[tuple[str, str, frozenset[str]], list[dict[str, Any]]] = OrderedDict()
        self._results_lock = threading.Lock()

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
        scope = self._scope(body.get("subscriptions"))
        kept = (str(request.claims.get("oid")), query, frozenset(scope))
        with self._results_lock:
            rows = self._results.get(kept) if offset else None
        if rows is None:
            rows = self._evaluate(query, scope)
            with self._results_lock:
                self._results[kept] = rows
                while len(self._results) > KEPT_RESULTS:
                    self._results.popitem(last=False)
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
        left, resets_after = self._quota(str(request.claims.get("oid")))
        remaining = str(left)
        return ArmResponse(
            200,
            result,
            headers={
                "x-ms-user-quota-remaining": remaining,
                "x-ms-user-quota-resets-after": resets_after,
                "x-ms-ratelimit-remaining-tenant-resource-requests": remaining,
            },
        )

    def _evaluate(self, query: str, scope: set[str]) -> list[dict[str, Any]]:
        sites = sorted(
            (s for s in self._estate.sites.values() if key(s.subscription_id) in scope), key=lambda s: key(s.id)
        )
        users = [u for u in self._estate.user_identities.values() if key(u.subscription_id) in scope]
        tables = {
            "resources": lambda: (
                [resources_row(s, self._estate) for s in sites] + [user_identity_row(u, self._estate) for u in users]
            ),
            "appserviceresources": lambda: [config_web_row(s, self._estate) for s in sites],
        }
        try:
            rows = evaluate(query, tables)
        except QueryError as error:
            raise invalid_query(error) from error
        if rows and any("id" not in row for row in rows):
            raise bad_request("The query must project 'id' for paging.", code="InvalidQuery")
        rows.sort(key=lambda row: key(str(row["id"])))
        return rows

    def _scope(self, subscriptions: Any) -> set[str]:
        if subscriptions is None:
            return set(self._estate.subscriptions)
        if isinstance(subscriptions, list) and all(isinstance(s, str) for s in subscriptions):
            return {key(s) for s in subscriptions}
        raise bad_request("'subscriptions' must be a list of subscription ids.", code="InvalidQuery")

    def _quota(self, caller: str) -> tuple[int, str]:
        """(queries left, time until the window resets as hh:mm:ss) after counting this query."""
        now = time.monotonic()
        start, used = self._windows.get(caller, (now, 0))
        if now >= start + QUOTA_WINDOW_S:
            start, used = now, 0
        self._windows[caller] = (start, used + 1)
        seconds = max(1, math.ceil(start + QUOTA_WINDOW_S - now))
        return max(0, self.quota - used - 1), f"00:00:{seconds:02d}"
