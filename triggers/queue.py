"""Queue: audits asked for through POST /api/audit run here, off the HTTP request."""

from __future__ import annotations

import json

import azure.functions as func

from provisioning.observability import configure_logging, correlated
from provisioning.runtime import shared_runtime
from triggers.audit_run import AUDIT_QUEUE, REPORTS, run_audit

blueprint = func.Blueprint()  # type: ignore[no-untyped-call]


@blueprint.function_name("queue_audit")
@blueprint.queue_trigger(arg_name="message", queue_name=AUDIT_QUEUE, connection="AzureWebJobsStorage")
@blueprint.blob_output(arg_name="report_json", path=f"{REPORTS}/latest.json", connection="AzureWebJobsStorage")
@blueprint.blob_output(arg_name="report_md", path=f"{REPORTS}/latest.md", connection="AzureWebJobsStorage")
@blueprint.blob_output(arg_name="report_html", path=f"{REPORTS}/latest.html", connection="AzureWebJobsStorage")
def queue_audit(
    message: func.QueueMessage, report_json: func.Out[str], report_md: func.Out[str], report_html: func.Out[str]
) -> None:
    configure_logging()
    try:
        correlation_id = str(json.loads(message.get_body()).get("correlation_id") or message.id)
    except (ValueError, AttributeError):
        correlation_id = str(message.id)
    with correlated(correlation_id):
        run_audit(
            shared_runtime(),
            correlation_id=correlation_id,
            report_json=report_json,
            report_md=report_md,
            report_html=report_html,
        )
