"""The OpenAPI 3 description of the HTTP API, served at /api/openapi.json and committed as
docs/openapi.json (a test keeps the two equal)."""

from __future__ import annotations

from typing import Any

from provisioning.models import ClientType

PROBLEM = {"$ref": "#/components/responses/Problem"}
JSON = "application/json"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def openapi_document() -> dict[str, Any]:
    connection_request = {
        "type": "object",
        "required": ["app", "connections"],
        "additionalProperties": False,
        "properties": {
            "app": {
                "type": "string",
                "description": "ARM id of the web app or deployment slot",
                "example": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-apps"
                "/providers/Microsoft.Web/sites/shop-web",
            },
            "connections": {
                "description": "'target:role' pairs, as a list or one ';'-separated string",
                "oneOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"type": "string"}}],
                "example": ["orders:writer"],
            },
            "identity": {"type": "string", "description": "'system', 'create:<name>' or a user-assigned identity id"},
            "client": {"type": "string", "enum": [c.value for c in ClientType]},
        },
    }
    step = {
        "type": "object",
        "required": ["step", "description"],
        "properties": {
            "step": {"type": "string"},
            "description": {"type": "string"},
            "target": {"type": "string"},
            "principal": {"type": "string"},
            "sql": {"type": "array", "items": {"type": "string"}},
            "set": {"type": "object", "additionalProperties": {"type": "string"}},
            "remove": {"type": "array", "items": {"type": "string"}},
        },
    }
    plan = {
        "type": "object",
        "required": ["app", "steps"],
        "properties": {
            "app": {"type": "string"},
            "steps": {"type": "array", "items": {"$ref": "#/components/schemas/Step"}},
        },
    }
    result = {
        "type": "object",
        "required": ["app", "mode", "outcome", "plan"],
        "properties": {
            "app": {"type": "string"},
            "mode": {"type": "string", "enum": ["plan", "apply"]},
            "outcome": {"type": "string", "enum": ["planned", "no-op", "converged"]},
            "plan": {"$ref": "#/components/schemas/Plan"},
            "seconds": {"type": "number"},
            "database_writes": {"type": "integer"},
            "correlation_id": {"type": "string"},
        },
    }
    drift = {
        "type": "object",
        "required": ["kind", "detail"],
        "properties": {
            "kind": {"type": "string"},
            "target": {"type": ["string", "null"]},
            "detail": {"type": "string"},
        },
    }
    status = {
        "type": "object",
        "required": ["app", "managed", "in_sync", "drift", "runs"],
        "properties": {
            "app": {"type": "string"},
            "managed": {"type": "boolean"},
            "in_sync": {"type": "boolean"},
            "plan": {"oneOf": [{"$ref": "#/components/schemas/Plan"}, {"type": "null"}]},
            "drift": {"type": "array", "items": {"$ref": "#/components/schemas/Drift"}},
            "runs": {"type": "array", "items": {"type": "object"}},
        },
    }
    problem = {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "field": {"type": "string"},
        },
    }
    write_errors = {str(code): PROBLEM for code in (400, 403, 404, 409, 422, 424, 503)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Passwordless Provisioner",
            "version": "1.0.0",
            "description": "Plan and apply passwordless database connections for App Service apps, read their "
            "state and drift, and run the drift audit. Every route takes the function key "
            "(x-functions-key header or code query parameter); write routes also need the App "
            "Service Authentication caller to carry the configured app role.",
        },
        "servers": [{"url": "/api"}],
        "security": [{"functionKey": []}],
        "paths": {
            "/connections/plan": {
                "post": {
                    "operationId": "plan",
                    "summary": "Dry run: the steps and exact SQL, nothing changed",
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": {"$ref": "#/components/schemas/ConnectionRequest"}}},
                    },
                    "responses": {"200": _json({"$ref": "#/components/schemas/Result"}, "The plan"), **write_errors},
                }
            },
            "/connections/apply": {
                "post": {
                    "operationId": "apply",
                    "summary": "Apply the plan, verify, and return what was applied",
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": {"$ref": "#/components/schemas/ConnectionRequest"}}},
                    },
                    "responses": {"200": _json({"$ref": "#/components/schemas/Result"}, "Converged"), **write_errors},
                }
            },
            "/connections": {
                "get": {
                    "operationId": "status",
                    "summary": "Observed state, drift and latest runs of one app",
                    "parameters": [{"name": "app", "in": "query", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Status"}, "The app's state"),
                        **{str(c): PROBLEM for c in (403, 404, 422, 424, 503)},
                    },
                }
            },
            "/audit": {
                "post": {
                    "operationId": "startAudit",
                    "summary": "Queue a read-only drift audit of every tagged app",
                    "responses": {"202": _json({"type": "object"}, "Queued"), "403": PROBLEM, "503": PROBLEM},
                }
            },
            "/audit/latest": {
                "get": {
                    "operationId": "latestAudit",
                    "summary": "The last audit report, as JSON, Markdown or HTML by Accept",
                    "responses": {
                        "200": {
                            "description": "The report",
                            "content": {
                                JSON: {"schema": {"type": "object"}},
                                "text/markdown": {"schema": {"type": "string"}},
                                "text/html": {"schema": {"type": "string"}},
                            },
                        },
                        "404": PROBLEM,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document")},
                }
            },
        },
        "components": {
            "securitySchemes": {"functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}},
            "schemas": {
                "ConnectionRequest": connection_request,
                "Step": step,
                "Plan": plan,
                "Result": result,
                "Drift": drift,
                "Status": status,
                "Problem": problem,
            },
            "responses": {
                "Problem": {
                    "description": "A problem (RFC 9457)",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            },
        },
    }
