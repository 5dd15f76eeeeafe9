"""Queues: audits asked for through POST /api/audit start here, and every audit part runs here,
spread over as many instances as the queue's length calls for."""

from __future__ import annotations

import json

import azure.functions as func

from provisioning.observability import configure_logging, correlated
from triggers.audit_run import AUDIT_QUEUE, PARTS_QUEUE, audit_one_part, start_audit
from triggers.runtime import shared_runtime

blueprint = func.Blueprint()  # type: ignore[no-untyped-call]


@blueprint.function_name("queue_start_audit")
@blueprint.queue_trigger(arg_name="message", queue_name=AUDIT_QUEUE, connection="AzureWebJobsStorage")
@blueprint.queue_output(arg_name="parts", queue_name=PARTS_QUEUE, connection="AzureWebJobsStorage")
def queue_start_audit(message: func.QueueMessage, parts: func.Out[list[str]]) -> None:
    configure_logging()
    try:
        correlation_id = str(json.loads(message.get_body()).get("correlation_id") or message.id)
    except (ValueError, AttributeError):
        correlation_id = str(message.id)
    with correlated(correlation_id):
        start_audit(shared_runtime(), correlation_id=correlation_id, parts=parts)


@blueprint.function_name("queue_audit_part")
@blueprint.queue_trigger(arg_name="message", queue_name=PARTS_QUEUE, connection="AzureWebJobsStorage")
def queue_audit_part(message: func.QueueMessage) -> None:
    configure_logging()
    with correlated(str(message.id)):
        audit_one_part(shared_runtime(), message.get_body().decode())
