"""The committed OpenAPI document is the one the app serves."""

import json
from pathlib import Path

import azure.functions as func

from tests.functions_index import user_function
from triggers.openapi import openapi_document

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_document_matches_the_code() -> None:
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == openapi_document(), (
        "regenerate docs/openapi.json from triggers.openapi.openapi_document()"
    )


def test_the_app_serves_it() -> None:
    response = user_function("http_openapi")(func.HttpRequest(method="GET", url="/api/openapi.json", body=b""))
    assert response.status_code == 200
    assert json.loads(response.get_body()) == openapi_document()


def test_every_route_of_the_app_is_documented() -> None:
    document = openapi_document()
    assert set(document["paths"]) == {
        "/connections/plan",
        "/connections/apply",
        "/connections",
        "/audit",
        "/audit/latest",
        "/openapi.json",
    }
