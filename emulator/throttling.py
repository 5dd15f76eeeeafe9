"""ARM's request throttling: token buckets per subscription, principal and operation type.

Source: "Understand how Azure Resource Manager throttles requests" (learn.microsoft.com,
azure-resource-manager/management/request-limits-and-throttling, the 2024 regional token-bucket
model): subscription reads 250 tokens refilled at 25/s, deletes 200 at 10/s, writes 200 at 10/s;
the same for tenant-level requests (no subscription in the path, e.g. Resource Graph's
`POST /providers/Microsoft.ResourceGraph/resources`); "subscription limits apply per subscription,
per service principal, and per operation type", plus a global subscription limit of 15 times the
per-principal one shared by every principal. A request finding a bucket empty gets 429 with
`Retry-After`.

Which bucket the App Service `POST config/appsettings/list` action draws from is NOT settled:
- public issue threads report POST actions (`listKeys`, `appsettings/list`) charged as writes;
- the recorded answer (`recorded-arm/appsettings_list.json`) carries only App Service's own
  `x-ms-ratelimit-remaining-subscription-resource-requests` and no `…-writes` header; but so do the
  recorded site PUT and PATCH (`site_identity_assign.json`, `site_patch_async.json`), which ARM
  certainly counts as writes, while the appsettings PUT (`appsettings_put.json`) carries ARM's
  `…-writes`/`…-global-writes`. A missing ARM header therefore does not show the request was free.
So the model charges the list POST to ARM's write bucket by default (the stricter reading: a product
paced for it is never surprised by a 429 in Azure) and `TokenBuckets(list_action_bucket=None)`
serves the other reading (App Service's budget only), so a benchmark can report both floors.

App Service's own budget (`…-resource-requests`) is reported, not enforced: its size and window are
not published; the recordings show 11987 remaining after a list POST and 499/497 after site writes,
so the emulator reports countdowns from 12000 and 500. Its own 429 (site lock) is a fault to inject,
not a quota (`recorded-arm/error_429_site_lock.json`).

Answers carry the `x-ms-ratelimit-remaining-*` headers the recordings show for each operation kind.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

READ, WRITE, DELETE = "read", "write", "delete"
BUCKET_OF_METHOD = {"GET": READ, "HEAD": READ, "PUT": WRITE, "PATCH": WRITE, "POST": WRITE, "DELETE": DELETE}
GLOBAL_FACTOR = 15  # the global subscription limit is 15x the per-principal one (same source)
TENANT = "tenant"
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_LIST_ACTION = re.compile(r"/providers/Microsoft\.Web/sites/[^/]+(?:/slots/[^/]+)?/config/appsettings/list$", re.I)
_WEB_SITE = re.compile(r"/providers/Microsoft\.Web/sites/[^/]+(?:/slots/[^/]+)?$", re.IGNORECASE)
# Resource Graph has its own per-user quota (15 queries per 5 s, answered in `x-ms-user-quota-remaining`
# and the recorded `x-ms-ratelimit-remaining-tenant-resource-requests`): no ARM bucket is charged.
_GRAPH = re.compile(r"^/providers/Microsoft\.ResourceGraph/", re.IGNORECASE)
# The header names ARM uses per bucket (recorded: `…-subscription-reads`, `…-global-reads`, `…-writes`,
# `…-global-writes`; tenant-level Resource Graph: `…-tenant-resource-requests`).
_HEADER_WORD = {READ: "reads", WRITE: "writes", DELETE: "deletes"}
APP_SERVICE_HEADER = "x-ms-ratelimit-remaining-subscription-resource-requests"
APP_SERVICE_BUDGET = {"list": 12000, "site-write": 500}


@dataclass(frozen=True)
class Limit:
    burst: float
    refill_per_s: float


ARM_LIMITS = {READ: Limit(250, 25), WRITE: Limit(200, 10), DELETE: Limit(200, 10)}


def scope_of(path: str) -> str:
    """The subscription a request is about (lower-cased), or ``tenant`` for tenant-level requests."""
    match = _SUBSCRIPTION.match(path)
    return match.group(1).lower() if match else TENANT


def is_list_action(method: str, path: str) -> bool:
    return method == "POST" and _LIST_ACTION.search(path) is not None


@dataclass
class Charge:
    """What one request cost: the wait before it may be served (None: served now) and the headers
    its answer carries."""

    wait_s: float | None
    headers: dict[str, str]


class TokenBuckets:
    """Buckets keyed by (scope, principal, kind), and one global bucket per (scope, kind)."""

    def __init__(self, limits: dict[str, Limit] | None = None, *, list_action_bucket: str | None = WRITE) -> None:
        self.limits = dict(limits or ARM_LIMITS)
        self.list_action_bucket = list_action_bucket
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}  # -> (tokens, at)
        self._app_service_spent: dict[tuple[str, str], int] = {}

    def kind_of(self, method: str, path: str) -> str | None:
        """The ARM bucket a request draws from; None when it draws from none (see the module docstring)."""
        if is_list_action(method, path):
            return self.list_action_bucket
        if _GRAPH.match(path):
            return None
        return BUCKET_OF_METHOD.get(method, READ)

    def charge(self, principal: str, method: str, path: str) -> Charge:
        """Spend a token from the principal's and the global bucket, or say how long to wait."""
        scope, kind = scope_of(path), self.kind_of(method, path)
        now = time.monotonic()
        headers: dict[str, str] = {}
        with self._lock:
            wait = None
            if kind is not None:
                limit = self.limits[kind]
                scaled = Limit(limit.burst * GLOBAL_FACTOR, limit.refill_per_s * GLOBAL_FACTOR)
                mine = self._refilled((scope, principal, kind), limit, now)
                shared = self._refilled((scope, "*", kind), scaled, now)
                if mine >= 1 and shared >= 1:
                    mine, shared = mine - 1, shared - 1
                else:
                    wait = max((1 - mine) / limit.refill_per_s, (1 - shared) / scaled.refill_per_s, 0.0)
                self._buckets[(scope, principal, kind)] = (mine, now)
                self._buckets[(scope, "*", kind)] = (shared, now)
                headers = self._arm_headers(scope, kind, mine, shared)
            if wait is None:
                headers = self._recorded_header_set(scope, method, path, headers)
        return Charge(wait, headers)

    def take(self, principal: str, method: str, path: str = "/") -> float | None:
        """Spend a token; None when allowed, else the seconds to wait (what ``Retry-After`` says)."""
        return self.charge(principal, method, path).wait_s

    def remaining(self, principal: str, method: str, path: str = "/") -> int:
        kind = self.kind_of(method, path) or READ
        with self._lock:
            tokens = self._refilled((scope_of(path), principal, kind), self.limits[kind], time.monotonic())
        return int(tokens)

    def _refilled(self, bucket: tuple[str, str, str], limit: Limit, now: float) -> float:
        tokens, at = self._buckets.get(bucket, (limit.burst, now))
        return min(limit.burst, tokens + (now - at) * limit.refill_per_s)

    def _arm_headers(self, scope: str, kind: str, mine: float, shared: float) -> dict[str, str]:
        word = _HEADER_WORD[kind]
        if scope == TENANT:
            return {f"x-ms-ratelimit-remaining-tenant-{word}": str(max(0, int(mine)))}
        return {
            f"x-ms-ratelimit-remaining-subscription-{word}": str(max(0, int(mine))),
            f"x-ms-ratelimit-remaining-subscription-global-{word}": str(max(0, int(shared))),
        }

    def _recorded_header_set(self, scope: str, method: str, path: str, arm: dict[str, str]) -> dict[str, str]:
        """Microsoft.Web answers its list action and site writes with its own budget header only."""
        if is_list_action(method, path):
            budget = "list"
        elif method in ("PUT", "PATCH") and _WEB_SITE.search(path):
            budget = "site-write"
        else:
            return arm
        spent = self._app_service_spent.get((scope, budget), 0) + 1
        self._app_service_spent[(scope, budget)] = spent
        return {APP_SERVICE_HEADER: str(max(0, APP_SERVICE_BUDGET[budget] - spent))}


def retry_after_header(wait_s: float) -> str:
    """ARM sends whole seconds."""
    return str(max(1, math.ceil(wait_s)))


def throttle_floor(requests: Iterable[tuple[str, str]], buckets: TokenBuckets | None = None) -> float:
    """The least time the buckets allow for these (method, path) requests of one principal: over every
    subscription and kind, ``max(0, n - burst) / refill``. The estate's floor is its largest subscription's."""
    model = buckets or TokenBuckets()
    counts: dict[tuple[str, str], int] = {}
    for method, path in requests:
        kind = model.kind_of(method, path)
        if kind is not None:
            counts[(scope_of(path), kind)] = counts.get((scope_of(path), kind), 0) + 1
    return max(
        (max(0.0, n - model.limits[kind].burst) / model.limits[kind].refill_per_s for (_, kind), n in counts.items()),
        default=0.0,
    )
