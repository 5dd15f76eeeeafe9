"""The product's pacing from ARM's rate-limit headers: per subscription, before ARM says 429."""

from __future__ import annotations

import pytest

from provisioning.azure.pacing import CALLER_QUIET_S, ArmPacing

SUB_A = "https://management.azure.com/subscriptions/AAAA/resourceGroups/rg/providers/Microsoft.Web/sites/x"
SUB_B = "https://management.azure.com/subscriptions/bbbb/resourceGroups/rg/providers/Microsoft.Web/sites/x"
GRAPH = "https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _spacing(pacing: ArmPacing) -> float:
    """Seconds between two requests at the reserve: one token of this process's share."""
    pacing.observe("PUT", SUB_A, 200, {"x-ms-ratelimit-remaining-subscription-writes": "21"})
    pacing.reserve("POST", SUB_A)
    return pacing.reserve("POST", SUB_A)


def _learn_callers(pacing: ArmPacing, clock: Clock, others: int) -> None:
    """Other callers learnt from 429s on SUB_A's write bucket, one news per hold."""
    for _ in range(others):
        clock.now += 2
        pacing.observe("POST", SUB_A, 429, {"Retry-After": "1"})


def test_a_full_bucket_sends_at_once_down_to_the_reserve() -> None:
    pacing = ArmPacing(clock=Clock())
    waits = [pacing.reserve("GET", SUB_A) for _ in range(250)]
    assert waits[:224] == [0.0] * 224  # 250 tokens less a reserve of 25 (and the one being spent)
    assert waits[-1] > 0


def test_arm_header_resets_the_estimate_and_the_wait_is_the_refill_time() -> None:
    clock = Clock()
    pacing = ArmPacing(clock=clock)
    pacing.observe("PUT", SUB_A, 200, {"x-ms-ratelimit-remaining-subscription-writes": "21"})
    assert pacing.reserve("PATCH", SUB_A) == 0.0  # 21 >= 1 + 20 reserved
    assert pacing.reserve("PATCH", SUB_A) == 0.1  # one token at 10/s
    assert pacing.reserve("PATCH", SUB_A) == 0.2  # booked behind the previous one
    clock.now += 10
    assert pacing.reserve("PATCH", SUB_A) == 0.0


def test_pacing_is_per_subscription_and_per_kind() -> None:
    pacing = ArmPacing(clock=Clock())
    pacing.observe("PUT", SUB_A, 200, {"X-Ms-Ratelimit-Remaining-Subscription-Writes": "0"})
    assert pacing.reserve("PUT", SUB_A) > 0
    assert pacing.reserve("PUT", SUB_B) == 0.0  # another subscription has its own buckets
    assert pacing.reserve("GET", SUB_A) == 0.0  # reads are another bucket
    assert pacing.reserve("POST", SUB_A) > 0  # a POST action counts as a write


def test_the_global_bucket_paces_too() -> None:
    pacing = ArmPacing(clock=Clock())
    pacing.observe("GET", SUB_A, 200, {"x-ms-ratelimit-remaining-subscription-global-reads": "3"})
    assert pacing.reserve("GET", SUB_A) > 0


def test_a_429_holds_the_bucket_for_its_retry_after_then_rebuilds_the_reserve_at_a_shared_rate() -> None:
    pacing = ArmPacing(clock=Clock())
    pacing.observe("PATCH", SUB_A, 429, {"Retry-After": "7"})
    # Empty once the hold ends; the 21 tokens of the reserve then come back at 10/s shared by two callers.
    assert pacing.reserve("PATCH", SUB_A) == pytest.approx(7 + 21 / 5)


def test_every_429_without_a_header_counts_one_more_caller_and_quiet_spells_forget_them() -> None:
    """Settings list answers carry no ARM header: a worker learns of the others only from 429s."""
    clock = Clock()
    pacing = ArmPacing(clock=clock)

    assert _spacing(pacing) == pytest.approx(0.1)
    pacing.observe("POST", SUB_A, 429, {"Retry-After": "1"})
    pacing.observe("POST", SUB_A, 429, {"Retry-After": "1"})  # within the same hold: no news
    assert _spacing(pacing) == pytest.approx(0.1 * 2)
    clock.now += 1.5
    pacing.observe("POST", SUB_A, 429, {"Retry-After": "1"})  # after the hold: one more
    assert _spacing(pacing) == pytest.approx(0.1 * 3)
    assert pacing.reserve("POST", SUB_B) == 0.0  # another subscription knows nothing of them
    clock.now += CALLER_QUIET_S
    assert _spacing(pacing) == pytest.approx(0.1 * 2)
    clock.now += CALLER_QUIET_S * 5
    assert _spacing(pacing) == pytest.approx(0.1)  # never fewer than this process itself


def test_each_quiet_spell_after_the_first_is_half_as_long_so_a_worker_left_alone_soon_has_the_whole_rate() -> None:
    clock = Clock()
    pacing = ArmPacing(clock=clock)
    _learn_callers(pacing, clock, 3)

    last_429 = clock.now
    for ends, callers in [(CALLER_QUIET_S, 3), (CALLER_QUIET_S * 1.5, 2), (CALLER_QUIET_S * 1.75, 1)]:
        clock.now = last_429 + ends - 0.1
        assert _spacing(pacing) == pytest.approx(0.1 * (callers + 1))
        clock.now = last_429 + ends + 0.1
        assert _spacing(pacing) == pytest.approx(0.1 * callers)


def test_news_of_fewer_callers_lowers_the_count_and_a_429_still_raises_it() -> None:
    clock = Clock()
    pacing = ArmPacing(clock=clock)
    _learn_callers(pacing, clock, 3)

    assert _spacing(pacing) == pytest.approx(0.1 * 4)
    pacing.share_at_most(5)  # a bound above the count says nothing
    assert _spacing(pacing) == pytest.approx(0.1 * 4)
    pacing.share_at_most(2)
    assert _spacing(pacing) == pytest.approx(0.1 * 2)
    clock.now += 2
    pacing.observe("POST", SUB_A, 429, {"Retry-After": "1"})
    assert _spacing(pacing) == pytest.approx(0.1 * 3)


def test_a_worker_told_it_is_alone_spends_what_the_others_left_until_arm_says_otherwise() -> None:
    clock = Clock()
    pacing = ArmPacing(clock=clock)
    _learn_callers(pacing, clock, 3)
    clock.now += 2  # the last hold is over; the estimate is near empty
    assert pacing.reserve("POST", SUB_A) > 0

    pacing.share_at_most(1)

    waits = [pacing.reserve("POST", SUB_A) for _ in range(180)]
    assert waits == [0.0] * 180  # the bucket's 200 less the reserve of 20
    assert pacing.reserve("POST", SUB_A) > 0
    pacing.observe("POST", SUB_A, 429, {"Retry-After": "1"})  # ARM: the others had left less
    pacing.share_at_most(1)  # the news again: the count comes back down, the leftovers are not taken twice
    # The hold's debt (1 s at the two-caller share it counted then) and the reserve, at the whole rate.
    assert pacing.reserve("POST", SUB_A) == pytest.approx((5 + 21) / 10)


def test_news_of_being_alone_changes_nothing_where_no_other_caller_was_counted() -> None:
    clock = Clock()
    pacing = ArmPacing(clock=clock)
    pacing.observe("PUT", SUB_A, 200, {"x-ms-ratelimit-remaining-subscription-writes": "21"})
    pacing.share_at_most(1)
    pacing.reserve("POST", SUB_A)
    assert pacing.reserve("POST", SUB_A) == pytest.approx(0.1)


def test_resource_graph_waits_for_its_user_quota() -> None:
    clock = Clock()
    pacing = ArmPacing(clock=clock)
    assert pacing.reserve("POST", GRAPH) == 0.0
    pacing.observe("POST", GRAPH, 200, {"x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": "00:00:05"})
    assert pacing.reserve("POST", GRAPH) == 5.0
    assert pacing.reserve("POST", SUB_A) == 0.0  # ARM's buckets are not Resource Graph's quota
    clock.now += 5
    assert pacing.reserve("POST", GRAPH) == 0.0


def test_malformed_headers_are_ignored() -> None:
    pacing = ArmPacing(clock=Clock())
    pacing.observe("GET", SUB_A, 200, {"x-ms-ratelimit-remaining-subscription-reads": "many", "Retry-After": "x"})
    assert pacing.reserve("GET", SUB_A) == 0.0
