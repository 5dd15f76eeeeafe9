"""The audit, spread over instances: a start (the timer, or POST /api/audit through the queue)
discovers the apps and queues parts; each part is audited where it lands; the last one stored
writes the report. Read-only unless the timer's remediation setting is on; a drift event per drifted app."""

from __future__ import annotations

import logging

import azure.functions as func

from provisioning.audit import AuditReport, audit_part, combine
from provisioning.audit_fanout import PartOrder, part_from_json, part_orders, part_to_json
from provisioning.runtime import Runtime

log = logging.getLogger(__name__)
AUDIT_QUEUE = "passwordless-audit"
PARTS_QUEUE = "passwordless-audit-parts"


def start_audit(runtime: Runtime, *, correlation_id: str, parts: func.Out[list[str]], remediate: bool = False) -> int:
    """Discover every tagged app with one Resource Graph query and queue the parts."""
    orders = part_orders(
        runtime.reconciler, runtime.discovery.list_tagged_apps(), correlation_id=correlation_id, remediate=remediate
    )
    parts.set([order.to_message() for order in orders])
    log.info("audit %s: %d app(s) in %d part(s)", orders[0].run, sum(len(o.sites) for o in orders), len(orders))
    return len(orders)


def audit_one_part(runtime: Runtime, message: str) -> AuditReport | None:
    """Audit one part; the worker that stores the last part combines them and writes the report."""
    order = PartOrder.from_message(message)
    store = runtime.audit_store
    audited = audit_part(runtime.reconciler, order.sites, remediate=order.remediate)
    stored = store.put_part(order.run, order.part, part_to_json(audited))
    if stored < order.parts or not store.claim_aggregation(order.run):
        return None
    parts = [part_from_json(text) for text in store.read_parts(order.run)]
    report = combine(runtime.reconciler, parts, started=order.started, remediate=order.remediate)
    store.write_reports(report)
    for app in report.apps:
        runtime.outcomes.drifted(app, correlation_id=order.correlation_id)
    log.info("audit %s: %d app(s), %s", order.run, len(report.apps), report.counts())
    return report
