"""Timer: audit every tagged app for drift and keep the reports in blob storage."""

from __future__ import annotations

import logging

import azure.functions as func

from provisioning.audit import audit
from provisioning.report import to_html, to_json, to_markdown
from provisioning.runtime import shared_runtime

log = logging.getLogger(__name__)
blueprint = func.Blueprint()  # type: ignore[no-untyped-call]
REPORTS = "passwordless-reports"


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
    """Read-only: plans every app and records drift; remediation is the CLI's ``--remediate``."""
    runtime = shared_runtime()
    report = audit(runtime.reconciler, runtime.discovery.list_tagged_apps())
    report_json.set(to_json(report))
    report_md.set(to_markdown(report))
    report_html.set(to_html(report))
    log.info("audit: %d app(s), %s", len(report.apps), report.counts())
