"""A caller forges X-MS-CLIENT-PRINCIPAL while App Service Authentication is off: nothing is applied."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.resource_ids import parse_app_id
from tests.estates import APPS_GROUP, SUBSCRIPTION
from tests.security.conftest import arm_writes, principal_header, role_binding

pytestmark = pytest.mark.integration


def test_forged_role_header_without_authentication_is_refused_and_changes_nothing(
    emulator: Any, http: Any, pg_connect: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED")  # the deployment left App Service Authentication off
    site_id = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"forger-{uuid.uuid4().hex[:8]}")
    emulator.clear_requests()

    status, problem = http(
        "apply",
        {"app": site_id, "connections": "orders:writer"},
        {"X-MS-CLIENT-PRINCIPAL": principal_header("Passwordless.Apply")},
    )

    assert status == 403
    assert problem["title"] == "Authentication not configured" and "WEBSITE_AUTH_ENABLED" in problem["detail"]
    assert arm_writes(emulator) == [] and emulator.requests == []  # not even a read: refused up front
    assert emulator.identity_of(site_id) is None
    assert emulator.app_settings(site_id) == {}
    assert role_binding(pg_connect, principal_name(parse_app_id(site_id), Engine.POSTGRES)) is None


def test_the_same_header_is_honoured_once_the_platform_says_authentication_is_on(
    emulator: Any, http: Any, pg_connect: Any
) -> None:
    """The control: with WEBSITE_AUTH_ENABLED=True (the platform strips forged copies) the role decides."""
    site_id = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"pipeline-{uuid.uuid4().hex[:8]}")
    status, _ = http("apply", {"app": site_id, "connections": "orders:reader"}, {"X-MS-CLIENT-PRINCIPAL": "e30="})
    assert status == 403 and emulator.identity_of(site_id) is None  # `{}`: authenticated, but no role
    status, result = http(
        "apply",
        {"app": site_id, "connections": "orders:reader"},
        {"X-MS-CLIENT-PRINCIPAL": principal_header("Passwordless.Apply")},
    )
    assert status == 200 and result["outcome"] == "converged"
    object_id, _ = emulator.identity_of(site_id)
    assert role_binding(pg_connect, principal_name(parse_app_id(site_id), Engine.POSTGRES)) == object_id
