"""HTTP API for pipelines and operators. Every route needs the function key; write routes also need
App Service Authentication on and its caller to carry the configured app role (fail closed: with
authentication off they answer 403 and never read the caller header). Errors are problem+json.
The core is imported inside the handlers, so that indexing the functions stays fast."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import azure.functions as func

from provisioning.azure.storage import REPORTS
from provisioning.errors import AdminMissing, InvalidRequest, PolicyViolation, PrincipalConflict, ProvisioningError
from provisioning.observability import configure_logging, correlated
from triggers.audit_run import AUDIT_QUEUE
from triggers.caller import write_refusal
from triggers.problems import problem, problem_for
from triggers.runtime import shared_runtime

if TYPE_CHECKING:
    from provisioning.reconciler import Mode
    from provisioning.runtime import Runtime

log = logging.getLogger(__name__)
blueprint = func.Blueprint()  # type: ignore[no-untyped-call]
TRIGGER = "http"
JSON = "application/json"
REPORT_TYPES = {"application/json": "json", "text/markdown": "md", "text/html": "html"}


@blueprint.function_name("http_plan")
@blueprint.route(route="connections/plan", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def http_plan(req: func.HttpRequest) -> func.HttpResponse:
    from provisioning.reconciler import Mode

    return handle_connection_request(req, Mode.PLAN, shared_runtime)


@blueprint.function_name("http_apply")
@blueprint.route(route="connections/apply", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def http_apply(req: func.HttpRequest) -> func.HttpResponse:
    from provisioning.reconciler import Mode

    return handle_connection_request(req, Mode.APPLY, shared_runtime)


@blueprint.function_name("http_connection_status")
@blueprint.route(route="connections", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def http_connection_status(req: func.HttpRequest) -> func.HttpResponse:
    return handle_status(req, shared_runtime)


@blueprint.function_name("http_start_audit")
@blueprint.route(route="audit", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@blueprint.queue_output(arg_name="queue", queue_name=AUDIT_QUEUE, connection="AzureWebJobsStorage")
def http_start_audit(req: func.HttpRequest, queue: func.Out[str]) -> func.HttpResponse:
    return handle_start_audit(req, queue, shared_runtime)


@blueprint.function_name("http_latest_audit")
@blueprint.route(route="audit/latest", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@blueprint.blob_input(arg_name="report_json", path=f"{REPORTS}/latest.json", connection="AzureWebJobsStorage")
@blueprint.blob_input(arg_name="report_md", path=f"{REPORTS}/latest.md", connection="AzureWebJobsStorage")
@blueprint.blob_input(arg_name="report_html", path=f"{REPORTS}/latest.html", connection="AzureWebJobsStorage")
def http_latest_audit(
    req: func.HttpRequest, report_json: str | None, report_md: str | None, report_html: str | None
) -> func.HttpResponse:
    return handle_latest_audit(req, {"json": report_json, "md": report_md, "html": report_html})


@blueprint.function_name("http_openapi")
@blueprint.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def http_openapi(req: func.HttpRequest) -> func.HttpResponse:
    from triggers.openapi import openapi_document

    return func.HttpResponse(json.dumps(openapi_document(), indent=2), mimetype=JSON)


def correlation_of(req: func.HttpRequest) -> str:
    """The caller's request id when it sends one, so its logs and ours join up."""
    return req.headers.get("x-correlation-id") or req.headers.get("x-ms-request-id") or str(uuid.uuid4())


def handle_connection_request(req: func.HttpRequest, mode: Mode, runtime: Callable[[], Runtime]) -> func.HttpResponse:
    """Parse, authorize the caller for writes, reconcile, record the run; every error is a problem."""
    from provisioning.reconciler import Mode
    from provisioning.requests import request_from_body

    configure_logging()
    correlation_id = correlation_of(req)
    with correlated(correlation_id):
        try:
            body = json.loads(req.get_body() or b"null")
        except (ValueError, UnicodeDecodeError):
            return problem(400, "Malformed JSON", "the body is not valid JSON", field="body")
        try:
            active = runtime()
            if mode is Mode.APPLY:
                refused = _write_refusal(req, active)
                if refused:
                    return problem(403, *refused)
            request = request_from_body(body)
            try:
                result = active.reconciler.reconcile_request(request, mode)
            except ProvisioningError as exc:
                if mode is Mode.APPLY:
                    active.outcomes.failed(request.app, exc, trigger=TRIGGER, correlation_id=correlation_id)
                raise
            if mode is Mode.APPLY:
                active.outcomes.reconciled(result, trigger=TRIGGER, correlation_id=correlation_id)
        except ProvisioningError as exc:
            return problem_for(exc)
        document = result.to_dict() | {"correlation_id": correlation_id}
        return func.HttpResponse(json.dumps(document), status_code=200, mimetype=JSON)


def handle_status(req: func.HttpRequest, runtime: Callable[[], Runtime]) -> func.HttpResponse:
    """Observed state of one app: its drift against its tags, and its latest runs. Read-only."""
    from provisioning.audit import drift_of, drift_of_error
    from provisioning.reconciler import Mode
    from provisioning.resource_ids import parse_app_id

    configure_logging()
    with correlated(correlation_of(req)):
        try:
            app = parse_app_id(req.params.get("app") or "", field="app")
            active = runtime()
            document: dict[str, Any] = {"app": app.id}
            try:
                result = active.reconciler.reconcile_app(app, Mode.PLAN)
            except (InvalidRequest, PolicyViolation, AdminMissing, PrincipalConflict) as exc:
                found = drift_of_error(exc)
                assert found is not None
                document |= {"managed": True, "in_sync": False, "plan": None, "drift": [_drift(found)]}
            else:
                drift = drift_of(result.plan, active.reconciler.catalog) if result else ()
                document |= {
                    "managed": result is not None,
                    "in_sync": result is not None and result.plan.empty,
                    "plan": result.plan.to_dict() if result else None,
                    "drift": [_drift(d) for d in drift],
                }
            document["runs"] = active.runs.list_runs(app)
        except ProvisioningError as exc:
            return problem_for(exc)
        return func.HttpResponse(json.dumps(document), status_code=200, mimetype=JSON)


def handle_start_audit(
    req: func.HttpRequest, queue: func.Out[str], runtime: Callable[[], Runtime]
) -> func.HttpResponse:
    """Queue an audit (read-only): the queue-triggered worker runs it and stores the reports."""
    configure_logging()
    correlation_id = correlation_of(req)
    with correlated(correlation_id):
        try:
            active = runtime()
        except ProvisioningError as exc:
            return problem_for(exc)
        refused = _write_refusal(req, active)
        if refused:
            return problem(403, *refused)
        queue.set(json.dumps({"correlation_id": correlation_id}))
        log.info("audit queued")
        body = {"status": "queued", "correlation_id": correlation_id, "report": "/api/audit/latest"}
        return func.HttpResponse(json.dumps(body), status_code=202, mimetype=JSON)


def handle_latest_audit(req: func.HttpRequest, reports: dict[str, str | None]) -> func.HttpResponse:
    """The last report in the format the caller accepts (JSON unless it asks for Markdown or HTML)."""
    accept = (req.headers.get("accept") or JSON).lower()
    chosen = next((media for media in REPORT_TYPES if media in accept), JSON)
    content = reports[REPORT_TYPES[chosen]]
    if content is None:
        return problem(404, "No report yet", "no audit has finished yet; POST /api/audit to start one")
    return func.HttpResponse(content, status_code=200, mimetype=chosen, charset="utf-8")


def _write_refusal(req: func.HttpRequest, active: Runtime) -> tuple[str, str] | None:
    config = active.config
    return write_refusal(
        role=config.apply_role, authentication_on=config.app_service_authentication, read_header=req.headers.get
    )


def _drift(drift: Any) -> dict[str, Any]:
    return {"kind": drift.kind.value, "target": drift.target, "detail": drift.detail}
