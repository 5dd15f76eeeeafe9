"""The audit's discovery against Resource Graph as Azure answers it: tag keys case-sensitive (an app
tagged `Passwordless=` is still found), and no siteConfig in web-app rows (a Node app without a client
tag is audited with the stack its config/web row holds, so it is clean, not drifted to Python)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from provisioning.audit import audit
from provisioning.resource_ids import parse_app_id
from tests.estates import APPS_GROUP, SUBSCRIPTION

pytestmark = pytest.mark.integration


def audited(runtime: Any, app_id: str) -> Any:
    report = audit(runtime.reconciler, runtime.discovery.list_tagged_apps())
    found = [entry for entry in report.apps if entry.app.key == parse_app_id(app_id).key]
    assert len(found) == 1, f"{app_id} was not discovered"
    return found[0]


def test_an_app_tagged_with_a_capitalised_key_is_found_and_clean(emulator: Any, runtime: Any) -> None:
    app = emulator.create_site(
        SUBSCRIPTION, APPS_GROUP, f"caps-{uuid.uuid4().hex[:8]}", tags={"Passwordless": "orders:reader"}
    )
    runtime.reconciler.reconcile_app(parse_app_id(app))
    entry = audited(runtime, app)
    assert (entry.status, entry.drift) == ("clean", ())


def test_a_node_app_without_a_client_tag_is_audited_clean(emulator: Any, runtime: Any) -> None:
    app = emulator.create_site(
        SUBSCRIPTION,
        APPS_GROUP,
        f"node-{uuid.uuid4().hex[:8]}",
        tags={"passwordless": "orders:reader"},
        linux_fx_version="NODE|20-lts",
    )
    result = runtime.reconciler.reconcile_app(parse_app_id(app))
    assert any("AZURE_POSTGRESQL_HOST" in str(step) for step in result.plan.steps)  # Node's settings, not Python's
    entry = audited(runtime, app)
    assert (entry.status, entry.drift) == ("clean", ())
