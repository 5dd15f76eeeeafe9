"""Pacing ARM requests per subscription from ARM's own rate-limit headers, before ARM answers 429.

ARM throttles with token buckets per subscription, principal and operation type (reads 250 tokens
refilled at 25/s, writes and deletes 200 at 10/s; a global bucket 15 times larger is shared by every
principal of the subscription) and reports what is left in `x-ms-ratelimit-remaining-subscription-
{reads,writes,deletes}` and `…-global-…` headers (tenant-level requests: `…-tenant-…`). Source:
learn.microsoft.com, azure-resource-manager/management/request-limits-and-throttling; the headers as
recorded in real answers (reference recordings `appsettings_put.json`, `site_get_system_and_user.json`).

Each worker process keeps a mirror of those buckets per subscription: every request spends a token
from its estimate, time refills it at the documented rate, and every answer that carries a header
resets the estimate to ARM's figure (other workers spend from the same buckets). A request that
would take the estimate below a reserve waits until the refill covers it, so a busy subscription is
slowed down to ARM's pace instead of being refused, and a quiet one is never delayed. Requests are
booked when they are sent, so concurrent callers queue one refill interval apart instead of all
rushing at an empty bucket. A 429 with `Retry-After` holds the bucket for that long.

Some answers carry no header for the bucket they drew from (App Service answers its settings `list`
POST with its own budget header only, `appsettings_list.json`), so several workers auditing one
subscription would each refill their mirror at the whole rate and together overdraw it. A 429 is
then the only news of the others: it counts one more caller sharing the bucket, the mirror refills
at the rate divided by the callers counted, and starts again from empty (what ARM just said), so the
reserve is rebuilt above ARM's real level. One caller is forgotten after a quiet spell of
``CALLER_QUIET_S`` without a 429, and one more after each spell half as long as the last: while the
others still send, the first drop soon brings a 429 and the count back; once they have stopped (their
work done), a worker left alone spends what they leave in the bucket within seconds.

News from outside ARM may bound the count (``share_at_most``): an audit's worker knows that no more
callers than the audit's parts not yet stored are spending from the buckets. Counts above the bound
come down to it (a 429 raises them again), and a worker that learns it is alone where it counted
others takes what they left in the bucket: its estimate becomes the bucket full, once, which ARM's
next 429 corrects at the cost of one request if the others had left less.

Which bucket a POST action draws from is not published; POST counts as a write here (the stricter
reading, see docs/operations.md). Resource Graph queries are paced by their own per-user quota
(`x-ms-user-quota-remaining`, `x-ms-user-quota-resets-after`, as recorded in `graph_paged.json`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

READ, WRITE, DELETE = "reads", "writes", "deletes"
_KIND_OF_METHOD = {"GET": READ, "HEAD": READ, "PUT": WRITE, "PATCH": WRITE, "POST": WRITE, "DELETE": DELETE}
GLOBAL_FACTOR = 15
RESERVE_FRACTION = 0.1  # keep a tenth of each bucket for other callers and for requests in flight
CALLER_QUIET_S = 12.0  # the first 429-free spell after which one fewer caller is counted on a bucket
_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?]+)", re.IGNORECASE)
_GRAPH = re.compile(r"/providers/Microsoft\.ResourceGraph/", re.IGNORECASE)
_HEADER = re.compile(r"^x-ms-ratelimit-remaining-(subscription|tenant)-((?:global-)?(?:reads|writes|deletes))$")
_QUOTA_RESETS = re.compile(r"^(\d+):(\d{2}):(\d{2})$")


@dataclass(frozen=True)
class Limit:
    burst: float
    refill_per_s: float


LIMITS = {READ: Limit(250, 25), WRITE: Limit(200, 10), DELETE: Limit(200, 10)}


def _limit(bucket: str) -> Limit:
    if bucket.startswith("global-"):
        base = LIMITS[bucket.removeprefix("global-")]
        return Limit(base.burst * GLOBAL_FACTOR, base.refill_per_s * GLOBAL_FACTOR)
    return LIMITS[bucket]


def request_scope(url: str) -> str:
    """The subscription a request is about (lower-cased), ``graph`` for Resource Graph, else ``tenant``."""
    if _GRAPH.search(url):
        return "graph"
    match = _SUBSCRIPTION.search(url)
    return match.group(1).lower() if match else "tenant"


class ArmPacing:
    """The mirror of ARM's buckets for one worker process; thread-safe, shared by every client."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], tuple[float, float]] = {}  # (scope, bucket) -> (tokens, at)
        self._callers: dict[tuple[str, str], tuple[int, float]] = {}  # (scope, bucket) -> (callers, since)
        self._held_until: dict[tuple[str, str], float] = {}  # (scope, bucket) -> end of the last 429's hold
        self._alone: set[tuple[str, str]] = set()  # buckets whose leftovers were taken since news of others
        self._graph_blocked_until = 0.0

    def reserve(self, method: str, url: str) -> float:
        """Book one request; the seconds to wait before sending it (0 when its buckets have room)."""
        scope = request_scope(url)
        now = self._clock()
        with self._lock:
            if scope == "graph":
                return max(0.0, self._graph_blocked_until - now)
            kind = _KIND_OF_METHOD.get(method.upper(), READ)
            wait = 0.0
            for bucket in (kind, "global-" + kind):
                limit = self._share(scope, bucket, now)
                tokens = self._refilled(scope, bucket, limit, now)
                floor = 1 + limit.burst * RESERVE_FRACTION
                if tokens < floor:
                    wait = max(wait, (floor - tokens) / limit.refill_per_s)
                self._tokens[(scope, bucket)] = (tokens - 1, now)
        if wait > 0:
            log.debug("pacing %s %s: waiting %.2f s for ARM's %s bucket of %s", method, url, wait, kind, scope)
        return wait

    def observe(self, method: str, url: str, status: int, headers: Mapping[str, str]) -> None:
        """Take ARM's figures from an answer: remaining tokens, a 429's ``Retry-After``, Graph's quota."""
        scope = request_scope(url)
        now = self._clock()
        lowered = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            if scope == "graph":
                self._observe_graph(lowered, now)
                return
            for name, value in lowered.items():
                match = _HEADER.match(name)
                if match and value.strip().isdigit():
                    where = scope if match.group(1) == "subscription" else "tenant"
                    self._tokens[(where, match.group(2))] = (float(value), now)
            retry_after = _seconds(lowered.get("retry-after"))
            if status == 429 and retry_after:
                key = (scope, _KIND_OF_METHOD.get(method.upper(), READ))
                callers = self._counted(key, now)
                if now >= self._held_until.get(key, 0.0):  # news, not another answer to the same hold
                    callers += 1
                self._callers[key] = (callers, now)
                self._held_until[key] = now + retry_after
                limit = self._share(*key, now)
                self._tokens[key] = (-retry_after * limit.refill_per_s, now)  # empty once the hold ends

    def share_at_most(self, callers: int) -> None:
        """At most ``callers`` callers, this one included, spend from this process's subscription
        buckets now (news from outside ARM); see the module docstring. Leftovers are taken once per
        bucket each time the news turns to "alone"."""
        now, bound = self._clock(), max(1, callers)
        with self._lock:
            if bound > 1:
                self._alone.clear()
            for key in list(self._callers):  # the buckets where others were counted
                if self._counted(key, now) > bound:
                    self._callers[key] = (bound, now)
                if bound == 1 and key not in self._alone:
                    self._alone.add(key)
                    if now >= self._held_until.get(key, 0.0):
                        self._tokens[key] = (_limit(key[1]).burst, now)

    def _share(self, scope: str, bucket: str, now: float) -> Limit:
        """This process's part of a bucket: its refill divided among the callers counted on it (the
        global bucket, 15 times larger, is left whole)."""
        limit = _limit(bucket)
        if bucket.startswith("global-"):
            return limit
        return Limit(limit.burst, limit.refill_per_s / self._counted((scope, bucket), now))

    def _counted(self, key: tuple[str, str], now: float) -> int:
        """Callers counted on a bucket since its last 429: one fewer after a quiet spell, and each
        further spell half as long as the one before, since every spell without a 429 is more news
        that the others have stopped."""
        callers, since = self._callers.get(key, (1, now))
        quiet, spell = now - since, CALLER_QUIET_S
        while callers > 1 and quiet >= spell:
            callers, quiet, spell = callers - 1, quiet - spell, spell / 2
        return callers

    def _refilled(self, scope: str, bucket: str, limit: Limit, now: float) -> float:
        tokens, at = self._tokens.get((scope, bucket), (limit.burst, now))
        return min(limit.burst, tokens + (now - at) * limit.refill_per_s)

    def _observe_graph(self, headers: Mapping[str, str], now: float) -> None:
        remaining = headers.get("x-ms-user-quota-remaining", "").strip()
        resets = _QUOTA_RESETS.match(headers.get("x-ms-user-quota-resets-after", "").strip())
        if remaining == "0" and resets:
            hours, minutes, seconds = (int(part) for part in resets.groups())
            self._graph_blocked_until = now + hours * 3600 + minutes * 60 + seconds


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class PacingPolicy:
    """An azure-core pipeline policy (per retry, so every attempt is paced and observed)."""

    next: Any

    def __init__(self, pacing: ArmPacing, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._pacing = pacing
        self._sleep = sleep

    def send(self, request: Any) -> Any:
        http_request = request.http_request
        wait = self._pacing.reserve(http_request.method, http_request.url)
        if wait > 0:
            self._sleep(wait)
        response = self.next.send(request)
        http_response = response.http_response
        self._pacing.observe(http_request.method, http_request.url, http_response.status_code, http_response.headers)
        return response
