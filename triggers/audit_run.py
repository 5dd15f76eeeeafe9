"""One audit run, whoever started it (the timer, or POST /api/audit through the queue): read-only,
reports into three blobs, a drift event per drifted app."""

from __future__ import annotations

import logging

import azure.functions as func

from provisioning.audit import AuditReport, audit
from provisioning.report import to_html, to_json, to_markdown
from provisioning.runtime import Runtime

log = logging.getLogger(__name__)
REPORTS = "passwordless-reports"
AUDIT_QUEUE = "passwordless-audit"


def run_audit(
    runtime: Runtime,
    *,
    correlation_id: str,
    report_json: func.Out[str],
    report_md: func.Out[str],
    report_html: func.Out[str],
) -> AuditReport:
    report = audit(runtime.reconciler, runtime.discovery.list_tagged_apps())
    report_json.set(to_json(report))
    report_md.set(to_markdown(report))
    report_html.set(to_html(report))
    for app in report.apps:
        runtime.outcomes.drifted(app, correlation_id=correlation_id)
    log.info("audit: %d app(s), %s", len(report.apps), report.counts())
    return report
