"""The Event Grid handler's contract with the platform: transient errors propagate (Event Grid
retries), permanent ones are recorded and consumed, duplicates do nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from provisioning.config import Config
from provisioning.errors import PolicyViolation, TransientError
from provisioning.resource_ids import AppRef
from triggers.eventgrid import handle_event

SITE = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Web/sites/shop"
EVENT = {
    "id": "e1",
    "eventType": "Microsoft.Resources.ResourceWriteSuccess",
    "subject": SITE,
    "eventTime": "2026-01-01T00:00:00.1234567Z",
    "data": {"resourceUri": SITE, "subscriptionId": "s1", "claims": {"oid": "someone"}},
}


@dataclass
class FakeReconciler:
    error: Exception | None = None
    handled: bool = False
    calls: list[str] = field(default_factory=list)

    def already_handled(self, app: AppRef, cause: str, moment: datetime | None) -> bool:
        assert moment is not None and moment.microsecond == 123456
        return self.handled

    def reconcile_app(self, app: AppRef, *, cause: str | None = None) -> None:
        self.calls.append(cause or "")
        if self.error is not None:
            raise self.error


@dataclass
class FakeOutcomes:
    failures: list[str] = field(default_factory=list)

    def failed(self, app: AppRef, error: Exception, *, trigger: str, correlation_id: str) -> None:
        self.failures.append(type(error).__name__)


@dataclass
class FakeRuntime:
    reconciler: FakeReconciler
    outcomes: FakeOutcomes = field(default_factory=FakeOutcomes)
    config: Config = field(default_factory=lambda: Config(catalog="unused", function_object_id="self-id"))


def run(runtime: FakeRuntime) -> Any:
    return handle_event(EVENT, runtime)  # type: ignore[arg-type]


def test_transient_errors_propagate_so_event_grid_retries() -> None:
    runtime = FakeRuntime(FakeReconciler(error=TransientError("ARM answered 503", retry_after=5)))
    with pytest.raises(TransientError):
        run(runtime)
    assert runtime.outcomes.failures == []


def test_permanent_errors_are_recorded_and_consumed() -> None:
    runtime = FakeRuntime(FakeReconciler(error=PolicyViolation("outside the allowed sources")))
    assert run(runtime) == "failed"
    assert runtime.outcomes.failures == ["PolicyViolation"]


def test_an_event_already_handled_reconciles_nothing() -> None:
    runtime = FakeRuntime(FakeReconciler(handled=True))
    assert run(runtime) == "already-reconciled"
    assert runtime.reconciler.calls == []


def test_the_event_id_is_passed_on_as_the_cause() -> None:
    runtime = FakeRuntime(FakeReconciler())
    assert run(runtime) == "not-requested"
    assert runtime.reconciler.calls == ["e1"]
