"""ARM's token buckets: per subscription, principal and operation type, the global bucket, the
appsettings/list action's bucket as modelled, the recorded headers, 429 with Retry-After, and the
SDK's retry policy riding through."""

from __future__ import annotations

import time

from azure.mgmt.web import WebSiteManagementClient

from emulator import Emulator
from emulator.throttling import (
    APP_SERVICE_HEADER,
    GLOBAL_FACTOR,
    Limit,
    TokenBuckets,
    retry_after_header,
    throttle_floor,
)
from provisioning.azure.webapps import WebApps
from provisioning.config import Config
from provisioning.resource_ids import parse_app_id
from tests.emulator.emulator_estate import BILLING_API, FUNCTION_OBJECT_ID, SHOP_WEB

SITE_A = "/subscriptions/aaaa/resourceGroups/rg/providers/Microsoft.Web/sites/one"
SITE_B = "/subscriptions/bbbb/resourceGroups/rg/providers/Microsoft.Web/sites/one"


def test_burst_then_refill_per_subscription_principal_and_kind() -> None:
    buckets = TokenBuckets({"read": Limit(3, 10), "write": Limit(2, 1), "delete": Limit(1, 1)})
    assert [buckets.take("a", "GET", SITE_A) for _ in range(3)] == [None, None, None]
    wait = buckets.take("a", "GET", SITE_A)
    assert wait is not None and 0 < wait <= 0.1
    assert buckets.take("b", "GET", SITE_A) is None  # another principal has its own bucket
    assert buckets.take("a", "GET", SITE_B) is None  # so has another subscription
    assert buckets.take("a", "POST", SITE_A) is None and buckets.take("a", "PUT", SITE_A) is None  # POST: a write
    assert buckets.take("a", "PATCH", SITE_A) is not None
    assert buckets.take("a", "DELETE", SITE_A) is None
    time.sleep(0.11)
    assert buckets.take("a", "GET", SITE_A) is None


def test_the_global_bucket_is_shared_by_every_principal() -> None:
    buckets = TokenBuckets({"read": Limit(1, 0.001), "write": Limit(1, 0.001), "delete": Limit(1, 0.001)})
    principals = [f"p{i}" for i in range(GLOBAL_FACTOR + 1)]
    answers = [buckets.take(p, "GET", SITE_A) for p in principals]
    assert answers[:GLOBAL_FACTOR] == [None] * GLOBAL_FACTOR and answers[-1] is not None


def test_the_list_action_bucket_is_a_modelling_choice() -> None:
    list_action = SITE_A + "/config/appsettings/list"
    strict = TokenBuckets({"read": Limit(5, 1), "write": Limit(1, 0.001), "delete": Limit(1, 1)})
    assert strict.take("a", "POST", list_action) is None and strict.take("a", "PUT", SITE_A) is not None
    lenient = TokenBuckets(strict.limits, list_action_bucket=None)
    assert all(lenient.take("a", "POST", list_action) is None for _ in range(10))
    assert throttle_floor([("POST", list_action)] * 300) == 10.0  # (300 - 200) / 10
    assert throttle_floor([("POST", list_action)] * 300, TokenBuckets(list_action_bucket=None)) == 0.0


def test_throttle_floor_is_the_largest_subscription() -> None:
    reads = [("GET", SITE_A)] * 300 + [("GET", SITE_B)] * 500
    assert throttle_floor(reads) == 10.0  # (500 - 250) / 25


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_header(0.01) == "1" and retry_after_header(1.2) == "2"


def test_answers_carry_the_headers_recorded_for_each_operation(emu: Emulator, web: WebSiteManagementClient) -> None:
    seen: list[dict[str, str]] = []

    def keep(response: object) -> None:
        seen.append(dict(response.http_response.headers))  # type: ignore[attr-defined]

    web.web_apps.get("rg-apps", "shop-web", raw_response_hook=keep)
    web.web_apps.list_application_settings("rg-apps", "shop-web", raw_response_hook=keep)
    web.web_apps.update_application_settings("rg-apps", "shop-web", {"properties": {"A": "1"}}, raw_response_hook=keep)
    get, listed, put = ({k.lower(): v for k, v in h.items()} for h in seen)
    assert int(get["x-ms-ratelimit-remaining-subscription-reads"]) == 249
    assert int(get["x-ms-ratelimit-remaining-subscription-global-reads"]) == 250 * GLOBAL_FACTOR - 1
    # appsettings_list.json: only App Service's own budget header; appsettings_put.json: ARM's writes.
    assert APP_SERVICE_HEADER in listed and not any(k.endswith("-writes") for k in listed)
    assert int(put["x-ms-ratelimit-remaining-subscription-writes"]) == 198  # the list POST was charged too
    assert "x-ms-ratelimit-remaining-subscription-global-writes" in put


def test_the_sdk_rides_through_a_429(emu: Emulator, web: WebSiteManagementClient) -> None:
    """An empty write bucket answers 429 + Retry-After; azure-core's retry policy waits and succeeds."""
    emu.throttle.limits["write"] = Limit(1, 2)  # one POST, then one every half second
    for _ in range(3):
        assert web.web_apps.list_application_settings("rg-apps", "shop-web").properties is not None
    statuses = [r.status for r in emu.requests if r.kind == "action"]
    assert statuses.count(429) >= 1 and statuses.count(200) == 3


def test_the_product_paces_itself_from_the_headers_before_arm_says_429(emu: Emulator, credential: object) -> None:
    """Another worker of the same function emptied most of the read bucket: the product learns it
    from the first answer's header and spreads its reads at the refill rate instead of meeting 429s."""
    for _ in range(220):
        assert emu.throttle.take(FUNCTION_OBJECT_ID, "GET", SHOP_WEB) is None
    apps = WebApps(credential, Config(catalog="unused", arm_endpoint=emu.arm_endpoint))  # type: ignore[arg-type]
    app = parse_app_id(BILLING_API)
    emu.clear_requests()
    started = time.monotonic()
    for _ in range(40):
        apps.read_site(app)
    elapsed = time.monotonic() - started
    statuses = [r.status for r in emu.requests if r.kind == "read"]
    assert statuses == [200] * 40  # not one 429
    assert elapsed >= 0.9  # ~ (40 - (30 - 26)) / 25 s: paced, not refused
