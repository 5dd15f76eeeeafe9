"""Errors as ``application/problem+json`` (RFC 9457): every failure of the HTTP API, one shape."""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func

from provisioning.errors import (
    Conflict,
    InvalidRequest,
    LockBusy,
    NotFound,
    PolicyViolation,
    ProvisioningError,
    TransientError,
)

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, *, field: str | None = None, retry_after: float | None = None
) -> func.HttpResponse:
    document: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if field:
        document["field"] = field
    headers = {"Retry-After": str(max(1, int(retry_after)))} if retry_after is not None else None
    return func.HttpResponse(json.dumps(document), status_code=status, mimetype=PROBLEM, headers=headers)


def problem_for(error: ProvisioningError) -> func.HttpResponse:
    """The status a caller can act on: fix the input (422), ask for access (403), wait (409/503)."""
    if isinstance(error, InvalidRequest):
        return problem(422, "Invalid request", str(error), field=error.field)
    if isinstance(error, PolicyViolation):
        return problem(403, "Denied by policy", str(error))
    if isinstance(error, NotFound):
        return problem(404, "Not found", str(error))
    if isinstance(error, (Conflict, LockBusy)):
        return problem(409, "Conflict", str(error), retry_after=getattr(error, "retry_after", None))
    if isinstance(error, TransientError):
        return problem(503, "Try again later", str(error), retry_after=error.retry_after or 10)
    log.error("request failed: %s", error)
    return problem(424, "A dependency refused the change", str(error))
