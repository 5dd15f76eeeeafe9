"""ARM's token buckets: per principal and operation type, POST actions charged as writes, 429 with
Retry-After, and the SDK's retry policy riding through."""

from __future__ import annotations

import time

from azure.mgmt.web import WebSiteManagementClient

from emulator import Emulator
from emulator.throttling import Limit, TokenBuckets, retry_after_header


def test_burst_then_refill_per_principal_and_kind() -> None:
    buckets = TokenBuckets({"read": Limit(3, 10), "write": Limit(2, 1), "delete": Limit(1, 1)})
    assert [buckets.take("a", "GET") for _ in range(3)] == [None, None, None]
    wait = buckets.take("a", "GET")
    assert wait is not None and 0 < wait <= 0.1
    assert buckets.take("b", "GET") is None  # another principal has its own bucket
    assert buckets.take("a", "POST") is None and buckets.take("a", "PUT") is None  # POST is a write
    assert buckets.take("a", "PATCH") is not None
    assert buckets.take("a", "DELETE") is None
    time.sleep(0.11)
    assert buckets.take("a", "GET") is None


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_header(0.01) == "1" and retry_after_header(1.2) == "2"


def test_the_sdk_rides_through_a_429(emu: Emulator, web: WebSiteManagementClient) -> None:
    """An empty write bucket answers 429 + Retry-After; azure-core's retry policy waits and succeeds."""
    emu.throttle.limits["write"] = Limit(1, 2)  # one POST, then one every half second
    for _ in range(3):
        assert web.web_apps.list_application_settings("rg-apps", "shop-web").properties is not None
    statuses = [r.status for r in emu.requests if r.kind == "action"]
    assert statuses.count(429) >= 1 and statuses.count(200) == 3
