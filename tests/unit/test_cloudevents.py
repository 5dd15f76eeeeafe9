"""CloudEvents 1.0 deliveries and malformed events at the Event Grid trigger, as the host delivers them:
the payload decoded by azure-functions' own converter, handed to the indexed function."""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from provisioning.config import Config
from provisioning.resource_ids import AppRef
from tests.functions_index import user_function
from triggers import eventgrid
from triggers.eventgrid import handle_event

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eventgrid"
SITE = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Web/sites/shop"


@dataclass
class Reconciler:
    reconciled: list[AppRef] = field(default_factory=list)

    def already_handled(self, app: AppRef, cause: str, moment: datetime | None) -> bool:
        return False

    def reconcile_app(self, app: AppRef, *, cause: str | None = None) -> None:
        self.reconciled.append(app)


@dataclass
class Outcomes:
    rejected_events: list[tuple[str, str]] = field(default_factory=list)

    def rejected(self, event_id: str, error: Exception, *, trigger: str) -> None:
        self.rejected_events.append((event_id, str(error)))


@dataclass
class Runtime:
    reconciler: Reconciler = field(default_factory=Reconciler)
    outcomes: Outcomes = field(default_factory=Outcomes)
    config: Config = field(default_factory=lambda: Config(catalog="unused", function_object_id="self-id"))


def delivered(body: dict[str, Any]) -> Any:
    """What the host passes to the function for this payload (azure-functions' converter)."""
    return EventGridEventInConverter.decode(meta.Datum(json.dumps(body), "json"), trigger_metadata={})


def test_a_cloudevent_reaches_the_indexed_function_and_reconciles(monkeypatch: pytest.MonkeyPatch) -> None:
    body = copy.deepcopy(json.loads((FIXTURES / "cloudevents-schema.resource_write_success.json").read_text()))
    body["subject"] = body["data"]["resourceUri"] = SITE
    event = delivered(body)
    assert type(event).__name__ == "CloudEvent"  # not an EventGridEvent: no event_type attribute
    runtime = Runtime()
    monkeypatch.setattr(eventgrid, "shared_runtime", lambda: runtime)
    user_function("eventgrid_reconcile_site")(event)
    assert [app.site for app in runtime.reconciler.reconciled] == ["shop"]


def test_an_event_grid_schema_event_still_reconciles(monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.loads((FIXTURES / "eventgrid-schema.resource_write_success.json").read_text())
    body = copy.deepcopy(body[0] if isinstance(body, list) else body)
    body["subject"] = body["data"]["resourceUri"] = SITE
    runtime = Runtime()
    monkeypatch.setattr(eventgrid, "shared_runtime", lambda: runtime)
    user_function("eventgrid_reconcile_site")(delivered(body))
    assert [app.site for app in runtime.reconciler.reconciled] == ["shop"]


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "m1", "type": "Microsoft.Resources.ResourceWriteSuccess"},  # no data
        {"id": "m1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "data": {}},  # no resourceUri
        {"id": "m1", "data": {"resourceUri": SITE}},  # no type
    ],
)
def test_a_malformed_event_is_consumed_logged_and_recorded(payload: dict[str, Any], caplog: Any) -> None:
    runtime = Runtime()
    with caplog.at_level(logging.ERROR, logger="triggers.eventgrid"):
        assert handle_event(payload, runtime) == "rejected"  # type: ignore[arg-type]  # returned, not raised
    assert [event_id for event_id, _ in runtime.outcomes.rejected_events] == ["m1"]
    assert any("m1" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert runtime.reconciler.reconciled == []
