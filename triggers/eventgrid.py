"""Event Grid: an ARM write or delete of a site or slot names an app; reconcile it (level-based)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import azure.functions as func

from provisioning.errors import InvalidRequest, PermanentError, TransientError
from provisioning.observability import configure_logging, correlated
from triggers.runtime import shared_runtime

if TYPE_CHECKING:
    from provisioning.reconciler import ReconcileResult
    from provisioning.runtime import Runtime

log = logging.getLogger(__name__)
blueprint = func.Blueprint()  # type: ignore[no-untyped-call]
TRIGGER = "eventgrid"


@blueprint.function_name("eventgrid_reconcile_site")
@blueprint.event_grid_trigger(arg_name="event")
def eventgrid_reconcile_site(event: func.EventGridEvent) -> None:
    """The host hands an Event Grid-schema event as ``func.EventGridEvent`` and a CloudEvents 1.0 one
    as ``func.CloudEvent`` whatever the annotation says (azure-functions' converter decides by the
    payload's ``specversion``); both are reduced to the same mapping."""
    configure_logging()
    with correlated(str(event.id)):
        handle_event(event_payload(event), shared_runtime())


def event_payload(event: func.EventGridEvent | func.CloudEvent) -> dict[str, Any]:
    if isinstance(event, func.CloudEvent):
        return {
            "id": event.id,
            "type": event.type,
            "subject": event.subject,
            "time": event.time,
            "data": event.get_json(),
        }
    return {
        "id": event.id,
        "eventType": event.event_type,
        "subject": event.subject,
        "eventTime": event.event_time,
        "data": event.get_json(),
    }


def handle_event(payload: Mapping[str, Any], runtime: Runtime) -> str:
    """Reconcile the app an event names. Transient errors propagate so Event Grid retries;
    permanent ones, a malformed event included, are logged, recorded as the outcome, and the event
    is consumed (a redelivery could never succeed).
    """
    from provisioning.azure.events import Ignored, interpret

    try:
        seen = interpret(
            payload, own_object_id=runtime.config.function_object_id, subscriptions=runtime.config.subscriptions
        )
    except InvalidRequest as exc:
        event_id = str(payload.get("id") or "")
        log.error("event %s is malformed and is dropped: %s", event_id or "(no id)", exc)
        runtime.outcomes.rejected(event_id, exc, trigger=TRIGGER)
        return "rejected"
    if isinstance(seen, Ignored):
        log.info("event %s ignored: %s", seen.event_id, seen.reason)
        return "ignored"
    reconciler, outcomes = runtime.reconciler, runtime.outcomes
    try:
        if reconciler.already_handled(seen.app, seen.event_id, seen.event_time):
            log.info("event %s: %s was reconciled after this event happened", seen.event_id, seen.app.id)
            return "already-reconciled"
        result: ReconcileResult | None
        if seen.deleted:
            result = reconciler.remove_app(seen.app, cause=seen.event_id)
        else:
            result = reconciler.reconcile_app(seen.app, cause=seen.event_id)
    except TransientError as exc:
        log.warning("event %s: %s will be retried: %s", seen.event_id, seen.app.id, exc)
        raise
    except PermanentError as exc:
        log.error("event %s: %s cannot be reconciled: %s", seen.event_id, seen.app.id, exc)
        outcomes.failed(seen.app, exc, trigger=TRIGGER, correlation_id=seen.event_id)
        return "failed"
    if result is None:
        log.info("event %s: %s is not tagged for passwordless connections", seen.event_id, seen.app.id)
        return "not-requested"
    outcomes.reconciled(result, trigger=TRIGGER, correlation_id=seen.event_id)
    log.info(
        "event %s: %s %s (%d step(s))",
        seen.event_id,
        seen.app.id,
        "converged" if result.applied else "already converged",
        len(result.plan.steps),
    )
    return "converged" if result.applied else "no-op"
