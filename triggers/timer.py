"""Timer: audit every tagged app for drift on a schedule (never on start-up, which fires on every
scale-out) and keep the reports in blob storage."""

from __future__ import annotations

import uuid

import azure.functions as func

from provisioning.observability import configure_logging, correlated
from provisioning.runtime import shared_runtime
from triggers.audit_run import REPORTS, run_audit

blueprint = func.Blueprint()  # type: ignore[no-untyped-call]


@blueprint.function_name("timer_audit")
@blueprint.timer_trigger(
    arg_name="timer", schedule="%PASSWORDLESS_AUDIT_SCHEDULE%", run_on_startup=False, use_monitor=True
)
@blueprint.blob_output(arg_name="report_json", path=f"{REPORTS}/latest.json", connection="AzureWebJobsStorage")
@blueprint.blob_output(arg_name="report_md", path=f"{REPORTS}/latest.md", connection="AzureWebJobsStorage")
@blueprint.blob_output(arg_name="report_html", path=f"{REPORTS}/latest.html", connection="AzureWebJobsStorage")
def timer_audit(
    timer: func.TimerRequest, report_json: func.Out[str], report_md: func.Out[str], report_html: func.Out[str]
) -> None:
    configure_logging()
    correlation_id = f"audit-{uuid.uuid4()}"
    with correlated(correlation_id):
        run_audit(
            shared_runtime(),
            correlation_id=correlation_id,
            report_json=report_json,
            report_md=report_md,
            report_html=report_html,
        )
