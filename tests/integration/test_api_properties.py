"""Property-based runs against the OpenAPI document, calling the real handlers: whatever the input,
never a 500, and every error is problem+json."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from provisioning.runtime import shared_runtime
from tests.functions_index import user_function
from triggers.openapi import openapi_document

pytestmark = pytest.mark.integration
ROUTES = {
    ("POST", "/api/connections/plan"): "http_plan",
    ("POST", "/api/connections/apply"): "http_apply",
    ("GET", "/api/connections"): "http_connection_status",
    ("POST", "/api/audit"): "http_start_audit",
    ("GET", "/api/audit/latest"): "http_latest_audit",
    ("GET", "/api/openapi.json"): "http_openapi",
}


class Discard(func.Out[str]):
    def set(self, val: str) -> None:
        self.value = val

    def get(self) -> str:
        return self.value


def functions_host(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI stand-in for the Functions host's HTTP front: route, build the request, call the function."""
    method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
    name = ROUTES.get((method, path))
    if name is None and any(known == path for _, known in ROUTES):
        start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])  # the host answers these
        return [b"method not allowed"]
    if name is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [f"no such route: {method} {path}".encode()]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    request = func.HttpRequest(
        method=method, url=path, body=body, headers=headers, params=dict(parse_qsl(environ.get("QUERY_STRING", "")))
    )
    extra: dict[str, Any] = {}
    if name == "http_start_audit":
        extra = {"queue": Discard()}
    elif name == "http_latest_audit":
        extra = {"report_json": None, "report_md": None, "report_html": None}
    response = user_function(name)(request, **extra)
    content_type = response.mimetype or "text/plain"
    start_response(f"{response.status_code} X", [("Content-Type", content_type), *response.headers.items()])
    return [response.get_body()]


schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module", autouse=True)
def product(product_environment: dict[str, str]) -> Iterable[None]:
    shared_runtime.cache_clear()
    yield
    shared_runtime.cache_clear()


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_500_and_errors_are_problems(case: Any) -> None:
    response = case.call(app=functions_host)
    if response.status_code == 405:
        return  # an undocumented method never reaches a function: the host refuses it
    assert response.status_code < 500 or response.status_code == 503, response.text
    if response.status_code >= 400:
        # a route the stand-in does not know answers text/plain, so this also proves every call reached a function
        content_type = {k.lower(): v for k, v in response.headers.items()}["content-type"][0]
        assert content_type.startswith("application/problem+json"), response.text
        document = json.loads(response.text)
        assert document["status"] == response.status_code and document["detail"]


def test_the_host_stand_in_answers_like_the_host() -> None:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/nowhere", "wsgi.input": io.BytesIO()}
    statuses: list[str] = []
    assert list(functions_host(environ, lambda status, headers: statuses.append(status))) == [
        b"no such route: GET /api/nowhere"
    ]
    assert statuses == ["404 Not Found"]
