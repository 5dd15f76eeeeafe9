"""HTTP API for pipelines: plan (dry run) and apply one app's request. Errors are problem+json."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
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
from provisioning.reconciler import Mode
from provisioning.requests import request_from_body
from provisioning.runtime import Runtime, shared_runtime

log = logging.getLogger(__name__)
blueprint = func.Blueprint()  # type: ignore[no-untyped-call]
PROBLEM = "application/problem+json"
PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"


@blueprint.function_name("http_plan")
@blueprint.route(route="connections/plan", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def http_plan(req: func.HttpRequest) -> func.HttpResponse:
    return handle_request(req, Mode.PLAN, shared_runtime)


@blueprint.function_name("http_apply")
@blueprint.route(route="connections/apply", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def http_apply(req: func.HttpRequest) -> func.HttpResponse:
    return handle_request(req, Mode.APPLY, shared_runtime)


def handle_request(req: func.HttpRequest, mode: Mode, runtime: Callable[[], Runtime]) -> func.HttpResponse:
    """Parse, authorize the caller for writes, reconcile; map every error to a status code."""
    try:
        body = json.loads(req.get_body() or b"null")
    except (ValueError, UnicodeDecodeError):
        return problem(400, "Malformed JSON", "the body is not valid JSON", field="body")
    try:
        active = runtime()
        if mode is Mode.APPLY and active.config.apply_role:
            missing = role_problem(req.headers.get(PRINCIPAL_HEADER), active.config.apply_role)
            if missing is not None:
                return missing
        result = active.reconciler.reconcile_request(request_from_body(body), mode)
    except InvalidRequest as exc:
        return problem(422, "Invalid request", str(exc), field=exc.field)
    except PolicyViolation as exc:
        return problem(403, "Denied by policy", str(exc))
    except NotFound as exc:
        return problem(404, "Not found", str(exc))
    except (Conflict, LockBusy) as exc:
        return problem(409, "Conflict", str(exc))
    except TransientError as exc:
        return problem(503, "Try again later", str(exc), retry_after=exc.retry_after or 10)
    except ProvisioningError as exc:
        log.error("%s failed: %s", mode.value, exc)
        return problem(424, "A dependency refused the change", str(exc))
    return func.HttpResponse(json.dumps(result.to_dict()), status_code=200, mimetype="application/json")


def role_problem(header: str | None, role: str) -> func.HttpResponse | None:
    """App Service Authentication forwards the caller as base64 JSON; require the app role in it."""
    if not header:
        return problem(403, "Role required", f"write routes need an authenticated caller with app role {role!r}")
    try:
        principal = json.loads(base64.b64decode(header, validate=True))
        claims = principal.get("claims", []) if isinstance(principal, dict) else []
        roles = {c.get("val") for c in claims if isinstance(c, dict) and c.get("typ") in ("roles", "role")}
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return problem(403, "Role required", f"{PRINCIPAL_HEADER} is not valid base64 JSON")
    if role not in roles:
        return problem(403, "Role required", f"the caller lacks app role {role!r}")
    return None


def problem(
    status: int, title: str, detail: str, *, field: str | None = None, retry_after: float | None = None
) -> func.HttpResponse:
    document: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if field:
        document["field"] = field
    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
    return func.HttpResponse(json.dumps(document), status_code=status, mimetype=PROBLEM, headers=headers)
