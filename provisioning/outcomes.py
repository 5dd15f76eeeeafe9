"""After each reconcile: keep a run record and announce the outcome. One place, so every trigger
reports the same way."""

from __future__ import annotations

from typing import Any, Protocol

from provisioning.audit import AppAudit, RemediationLog
from provisioning.errors import ProvisioningError
from provisioning.reconciler import ReconcileResult
from provisioning.resource_ids import AppRef

PROVISIONED = "Passwordless.ConnectionProvisioned"
FAILED = "Passwordless.ProvisioningFailed"
DRIFTED = "Passwordless.DriftDetected"


class RunsPort(Protocol):
    def record(
        self,
        app: AppRef,
        *,
        trigger: str,
        correlation_id: str,
        outcome: str,
        plan: dict[str, Any] | None = None,
        seconds: float = 0.0,
        error: str | None = None,
    ) -> None: ...

    def record_rejected(self, event_id: str, *, trigger: str, error: str) -> None: ...


class EventsPort(Protocol):
    def publish(self, event_type: str, app: AppRef, data: dict[str, Any]) -> None: ...

    def publish_rejected(self, event_type: str, event_id: str, data: dict[str, Any]) -> None: ...


class Outcomes:
    def __init__(self, runs: RunsPort, events: EventsPort) -> None:
        self._runs = runs
        self._events = events

    def reconciled(self, result: ReconcileResult, *, trigger: str, correlation_id: str) -> None:
        summary = result.to_dict()
        self._runs.record(
            result.app,
            trigger=trigger,
            correlation_id=correlation_id,
            outcome=summary["outcome"],
            plan=summary["plan"],
            seconds=result.seconds,
        )
        if result.applied:
            steps = [step["step"] for step in summary["plan"]["steps"]]
            self._events.publish(PROVISIONED, result.app, {"correlationId": correlation_id, "steps": steps})

    def failed(self, app: AppRef, error: Exception, *, trigger: str, correlation_id: str) -> None:
        kind = type(error).__name__
        self._runs.record(app, trigger=trigger, correlation_id=correlation_id, outcome="failed", error=str(error))
        self._events.publish(FAILED, app, {"correlationId": correlation_id, "error": kind, "detail": str(error)})

    def rejected(self, event_id: str, error: Exception, *, trigger: str) -> None:
        """An event no app can be read from (malformed): kept and announced, then consumed."""
        self._runs.record_rejected(event_id, trigger=trigger, error=str(error))
        detail = {"correlationId": event_id, "error": type(error).__name__, "detail": str(error)}
        self._events.publish_rejected(FAILED, event_id, detail)

    def recorder(self, *, trigger: str, correlation_id: str) -> RemediationLog:
        """What an audit that remediates records its reconciles with, as ``trigger`` under one id."""
        return _Recorder(self, trigger, correlation_id)

    def drifted(self, audit: AppAudit, *, correlation_id: str) -> None:
        if audit.drift:
            kinds = sorted({d.kind.value for d in audit.drift})
            self._events.publish(
                DRIFTED, audit.app, {"correlationId": correlation_id, "kinds": kinds, "remediated": audit.remediated}
            )


class _Recorder:
    def __init__(self, outcomes: Outcomes, trigger: str, correlation_id: str) -> None:
        self._outcomes = outcomes
        self._trigger = trigger
        self._correlation_id = correlation_id

    def reconciled(self, result: ReconcileResult) -> None:
        self._outcomes.reconciled(result, trigger=self._trigger, correlation_id=self._correlation_id)

    def failed(self, app: AppRef, error: ProvisioningError) -> None:
        self._outcomes.failed(app, error, trigger=self._trigger, correlation_id=self._correlation_id)
