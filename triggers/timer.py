"""Timer: start the drift audit on a schedule (never on start-up, which fires on every scale-out).
Drifted apps are reconciled only when ``PASSWORDLESS_AUDIT_REMEDIATE`` is true (off by default)."""

from __future__ import annotations

import uuid

import azure.functions as func

from provisioning.observability import configure_logging, correlated
from triggers.audit_run import PARTS_QUEUE, start_audit
from triggers.runtime import shared_runtime

blueprint = func.Blueprint()  # type: ignore[no-untyped-call]


@blueprint.function_name("timer_audit")
@blueprint.timer_trigger(
    arg_name="timer", schedule="%PASSWORDLESS_AUDIT_SCHEDULE%", run_on_startup=False, use_monitor=True
)
@blueprint.queue_output(arg_name="parts", queue_name=PARTS_QUEUE, connection="AzureWebJobsStorage")
def timer_audit(timer: func.TimerRequest, parts: func.Out[list[str]]) -> None:
    configure_logging()
    correlation_id = f"audit-{uuid.uuid4()}"
    with correlated(correlation_id):
        runtime = shared_runtime()
        start_audit(runtime, correlation_id=correlation_id, parts=parts, remediate=runtime.config.audit_remediate)
