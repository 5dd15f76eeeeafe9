"""Run records and audit parts in the function's own storage (Azurite): kept whole, read back whole,
errors in the tree."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from provisioning.azure.audit_store import AuditStore
from provisioning.azure.credentials import default_credential
from provisioning.azure.runs import MAX_PROPERTY_CHARS, RunRecords
from provisioning.config import Config
from provisioning.errors import PermanentError
from provisioning.resource_ids import AppRef

pytestmark = pytest.mark.integration
# Azurite's well-known development account, with a key it does not know: every request is refused (403).
WRONG_KEY = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    f"AccountKey={base64.b64encode(b'not-the-account-key').decode()};"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


def big_plan(app: AppRef, steps: int) -> dict[str, Any]:
    """What a large app's plan looks like: a grant per table, each with its SQL."""
    return {
        "app": app.id,
        "steps": [
            {
                "step": "GrantPrivileges",
                "description": f"grant 4 missing privilege(s) to 'shop-web' on orders ({n})",
                "target": "orders",
                "principal": "shop-web",
                "sql": [f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."table_{n:05d}" TO "shop-web"'],
            }
            for n in range(steps)
        ],
    }


def records(connection: str) -> RunRecords:
    return RunRecords(default_credential(), Config(catalog="unused", storage_connection=connection))


def test_a_plan_too_long_for_a_row_is_read_back_whole(azurite: str) -> None:
    app = AppRef("00000000-0000-0000-0000-000000000001", "rg-apps", f"big-{uuid.uuid4().hex[:8]}")
    small, big = big_plan(app, 2), big_plan(app, 600)
    assert len(json.dumps(big)) > 2 * MAX_PROPERTY_CHARS
    runs = records(azurite)
    runs.record(app, trigger="http", correlation_id="first", outcome="converged", plan=small)
    runs.record(app, trigger="http", correlation_id="second", outcome="converged", plan=big, error="x" * 40_000)

    newest, oldest = runs.list_runs(app)
    assert (newest["correlation_id"], newest["plan"], newest["steps"]) == ("second", big, 600)
    assert len(newest["error"]) == MAX_PROPERTY_CHARS and newest["error"].endswith("[truncated]")
    assert (oldest["correlation_id"], oldest["plan"]) == ("first", small)


def test_storage_refusals_are_errors_of_the_tree(azurite: str) -> None:
    app = AppRef("00000000-0000-0000-0000-000000000001", "rg-apps", "refused")
    runs = records(WRONG_KEY)
    with pytest.raises(PermanentError, match=r"record a run of .*: storage refused"):
        runs.record(app, trigger="http", correlation_id="c", outcome="converged")
    with pytest.raises(PermanentError, match="read the runs of"):
        runs.list_runs(app)


def test_the_audit_stores_refusals_are_errors_of_the_tree(azurite: str) -> None:
    store = AuditStore(default_credential(), Config(catalog="unused", storage_connection=WRONG_KEY))
    with pytest.raises(PermanentError, match="store audit run-1 part 0: storage refused"):
        store.put_part("run-1", 0, "{}")
    with pytest.raises(PermanentError, match="claim the report of audit run-1"):
        store.claim_aggregation("run-1")
