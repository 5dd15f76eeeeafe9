"""The official sample events (placeholders replaced) and the shapes Azure really sends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provisioning.azure.events import Ignored, SiteEvent, interpret
from provisioning.errors import InvalidRequest

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "eventgrid"
SUB = "00000000-0000-0000-0000-000000000001"
SELF = "5f0c1a7e-0000-4000-8000-00000000f001"
SITE = f"/subscriptions/{SUB}/resourcegroups/rg-apps/providers/Microsoft.Web/sites/shop-web"


def sample(name: str, resource: str = SITE, caller: str = "a11ce000-0000-4000-8000-000000000001") -> dict[str, Any]:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    text = text.replace("{subscription-id}", SUB).replace("{resource-group}", "rg-apps")
    event: dict[str, Any] = json.loads(text)
    for holder, key in ((event, "subject"), (event["data"], "resourceUri"), (event["data"]["authorization"], "scope")):
        holder[key] = resource
    event["data"]["claims"]["http://schemas.microsoft.com/identity/claims/objectidentifier"] = caller
    event["data"]["operationName"] = "Microsoft.Web/sites/write"
    return event


@pytest.mark.parametrize(
    "name",
    [
        "eventgrid-schema.resource_write_success.json",
        "cloudevents-schema.resource_write_success.json",
    ],
)
def test_official_write_samples_name_the_app(name: str) -> None:
    seen = interpret(sample(name), own_object_id=SELF, subscriptions=(SUB,))
    assert isinstance(seen, SiteEvent)
    assert seen.app.site == "shop-web" and not seen.deleted
    assert seen.app.key == SITE.lower()


def test_official_delete_sample_is_a_delete() -> None:
    seen = interpret(sample("eventgrid-schema.resource_delete_success.json"), own_object_id=SELF, subscriptions=())
    assert isinstance(seen, SiteEvent) and seen.deleted


def test_own_writes_are_ignored_to_avoid_loops() -> None:
    seen = interpret(
        sample("eventgrid-schema.resource_write_success.json", caller=SELF.upper()),
        own_object_id=SELF,
        subscriptions=(),
    )
    assert isinstance(seen, Ignored) and "own identity" in seen.reason


def test_subscription_outside_the_allow_list_is_ignored() -> None:
    seen = interpret(
        sample("eventgrid-schema.resource_write_success.json"),
        own_object_id=SELF,
        subscriptions=("ffffffff-0000-0000-0000-000000000000",),
    )
    assert isinstance(seen, Ignored) and "allow-list" in seen.reason


@pytest.mark.parametrize(
    ("resource", "site", "slot"),
    [
        (SITE + "/config/appsettings", "shop-web", None),
        (SITE + "/slots/staging", "shop-web", "staging"),
        (SITE + "/providers/Microsoft.Resources/tags/default", "shop-web", None),
    ],
)
def test_child_resources_and_tag_writes_map_to_their_app(resource: str, site: str, slot: str | None) -> None:
    seen = interpret(
        sample("eventgrid-schema.resource_write_success.json", resource), own_object_id=SELF, subscriptions=()
    )
    assert isinstance(seen, SiteEvent)
    assert (seen.app.site, seen.app.slot) == (site, slot)


def test_other_resources_and_event_types_are_ignored() -> None:
    storage = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"
    assert isinstance(
        interpret(
            sample("eventgrid-schema.resource_write_success.json", storage), own_object_id=SELF, subscriptions=()
        ),
        Ignored,
    )
    event = sample("eventgrid-schema.resource_write_success.json")
    event["eventType"] = "Microsoft.Resources.ResourceActionSuccess"
    assert isinstance(interpret(event, own_object_id=SELF, subscriptions=()), Ignored)


def test_deleting_a_child_resource_is_not_deleting_the_app() -> None:
    event = sample("eventgrid-schema.resource_delete_success.json", SITE + "/slots/staging/config/web")
    seen = interpret(event, own_object_id=SELF, subscriptions=())
    assert isinstance(seen, SiteEvent) and not seen.deleted


def test_not_an_event_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match="eventType"):
        interpret({"hello": "world"}, own_object_id=SELF, subscriptions=())
