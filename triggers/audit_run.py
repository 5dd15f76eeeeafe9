"""The audit's queues, and the two adapters the timer and queue functions share: the audit itself
(start, parts, report) is the core's ``AuditRuns``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from provisioning.audit import AuditReport
    from provisioning.runtime import Runtime

AUDIT_QUEUE = "passwordless-audit"
PARTS_QUEUE = "passwordless-audit-parts"


def start_audit(runtime: Runtime, *, correlation_id: str, parts: func.Out[list[str]], remediate: bool = False) -> int:
    """Queue the parts of a new audit through the host's output binding."""
    messages = runtime.audits.start(correlation_id=correlation_id, remediate=remediate)
    parts.set(messages)
    return len(messages)


def audit_one_part(runtime: Runtime, message: str) -> AuditReport | None:
    return runtime.audits.run_part(message)
