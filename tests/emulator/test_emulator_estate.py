"""Loading estates: the sample file, derived ids, and errors that name the bad entry."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from emulator.errors import ArmError
from emulator.estate import EstateError, key, load_estate
from tests.emulator.emulator_estate import BILLING_API, ESTATE, SHARED_ID, STAGING

DEMO = Path(__file__).resolve().parents[2] / "emulator" / "estates" / "demo.yaml"


def test_the_demo_estate_loads() -> None:
    estate = load_estate(DEMO)

    assert estate.function_identity.name == "passwordless-func"
    assert len(estate.sites) == 4  # three apps and a slot
    [server] = estate.postgres_servers.values()
    assert key(estate.function_identity.object_id) in server.administrators


def test_ids_left_out_are_derived_the_same_way_every_time() -> None:
    first, second = load_estate(copy.deepcopy(ESTATE)), load_estate(copy.deepcopy(ESTATE))

    assert first.sites[key(BILLING_API)].system_identity == second.sites[key(BILLING_API)].system_identity
    assert first.user_identities[key(SHARED_ID)].principal == second.user_identities[key(SHARED_ID)].principal
    assert first.sites[key(STAGING)].system_identity is None


def test_lookups_explain_what_is_missing() -> None:
    estate = load_estate(copy.deepcopy(ESTATE))

    codes = []
    for resource_id in (
        BILLING_API.replace("billing-api", "nope"),
        BILLING_API.replace("rg-apps", "rg-nope"),
        BILLING_API.replace("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-00000000000f"),
    ):
        with pytest.raises(ArmError) as raised:
            estate.find(estate.sites, resource_id)
        codes.append(raised.value.code)

    assert codes == ["ResourceNotFound", "ResourceGroupNotFound", "SubscriptionNotFound"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda e: e["subscriptions"][0]["resource_groups"][0]["sites"][1].pop("name"),
            "subscriptions[0].resource_groups[0].sites[1]: missing 'name'",
        ),
        (
            lambda e: e["subscriptions"][0]["resource_groups"][0]["sites"][0].update(identity="both"),
            "subscriptions[0].resource_groups[0].sites[0].identity: expected 'none' or 'system'",
        ),
        (
            lambda e: e["subscriptions"][0]["resource_groups"][0]["sites"][2].update(
                user_assigned_identities=["ghost"]
            ),
            "no identity",
        ),
        (
            lambda e: e["subscriptions"][1].update(resource_groups={"name": "rg"}),
            "subscriptions[1].resource_groups: expected a list",
        ),
    ],
)
def test_malformed_estates_name_the_entry(change: Any, message: str) -> None:
    document = copy.deepcopy(ESTATE)
    change(document)

    with pytest.raises(EstateError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_estate(document)
