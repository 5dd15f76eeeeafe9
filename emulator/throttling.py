"""ARM's request throttling: a token bucket per principal and operation type.

Since 2024 ARM throttles per subscription, region and principal: reads 250 burst refilled at 25/s,
writes and deletes 200 burst at 10/s each. POST actions (``config/appsettings/list``, ``listKeys``)
are charged to the write bucket. A request finding its bucket empty gets 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

BUCKET_OF_METHOD = {
    "GET": "read",
    "HEAD": "read",
    "PUT": "write",
    "PATCH": "write",
    "POST": "write",
    "DELETE": "delete",
}


@dataclass(frozen=True)
class Limit:
    burst: float
    refill_per_s: float


ARM_LIMITS = {"read": Limit(250, 25), "write": Limit(200, 10), "delete": Limit(200, 10)}


class TokenBuckets:
    def __init__(self, limits: dict[str, Limit] | None = None) -> None:
        self.limits = dict(limits or ARM_LIMITS)
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # (principal, kind) -> (tokens, at)

    def take(self, principal: str, method: str) -> float | None:
        """Spend a token; None when allowed, else the seconds to wait (what ``Retry-After`` says)."""
        kind = BUCKET_OF_METHOD.get(method, "read")
        limit = self.limits[kind]
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get((principal, kind), (limit.burst, now))
            tokens = min(limit.burst, tokens + (now - at) * limit.refill_per_s)
            if tokens >= 1:
                self._buckets[(principal, kind)] = (tokens - 1, now)
                return None
            self._buckets[(principal, kind)] = (tokens, now)
            return (1 - tokens) / limit.refill_per_s

    def remaining(self, principal: str, method: str) -> int:
        kind = BUCKET_OF_METHOD.get(method, "read")
        with self._lock:
            tokens, _ = self._buckets.get((principal, kind), (self.limits[kind].burst, 0.0))
        return int(tokens)


def retry_after_header(wait_s: float) -> str:
    """ARM sends whole seconds."""
    return str(max(1, math.ceil(wait_s)))
