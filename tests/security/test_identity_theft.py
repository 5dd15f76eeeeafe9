"""One team asks for another team's user-assigned identity: by its resource id, or by ``create:<name>``
naming an identity created for another app. The identity is never attached, and nothing changes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from provisioning.errors import PolicyViolation
from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.resource_ids import parse_app_id
from tests.estates import APPS_GROUP, SUBSCRIPTION, TEAM_B_GROUP, user_identity_id
from tests.security.conftest import arm_writes, principal_header, role_binding

pytestmark = pytest.mark.integration
APPLY = {"X-MS-CLIENT-PRINCIPAL": principal_header("Passwordless.Apply")}
TEAM_B_IDENTITY = user_identity_id(TEAM_B_GROUP, "team-b-prod-id")


def attached(emulator: Any, app_id: str) -> set[str]:
    identity = emulator.site(app_id).get("identity") or {}
    return {rid.lower() for rid in identity.get("userAssignedIdentities") or {}}


def unchanged(emulator: Any, pg_connect: Any, app_id: str) -> None:
    assert arm_writes(emulator) == []
    assert attached(emulator, app_id) == set() and emulator.identity_of(app_id) is None
    assert emulator.app_settings(app_id) == {}
    assert role_binding(pg_connect, principal_name(parse_app_id(app_id), Engine.POSTGRES)) is None


def test_another_teams_identity_by_resource_id_is_denied_by_tag_and_by_pipeline(
    emulator: Any, runtime: Any, http: Any, pg_connect: Any
) -> None:
    tagged = emulator.create_site(
        SUBSCRIPTION,
        APPS_GROUP,
        f"thief-{uuid.uuid4().hex[:8]}",
        tags={"passwordless": "orders:writer", "passwordless-identity": TEAM_B_IDENTITY},
    )
    emulator.clear_requests()
    with pytest.raises(PolicyViolation, match=r"user-assigned identity .* is not offered to app"):
        runtime.reconciler.reconcile_app(parse_app_id(tagged))
    unchanged(emulator, pg_connect, tagged)

    untagged = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"thief-{uuid.uuid4().hex[:8]}")
    emulator.clear_requests()
    body = {"app": untagged, "connections": "orders:writer", "identity": TEAM_B_IDENTITY}
    status, problem = http("apply", body, APPLY)
    assert status == 403 and problem["title"] == "Denied by policy"
    assert "team-b-prod-id" in problem["detail"] and "shared-id" not in problem["detail"]
    unchanged(emulator, pg_connect, untagged)


def test_create_naming_an_identity_created_for_another_app_is_denied(emulator: Any, http: Any, pg_connect: Any) -> None:
    name = f"made-{uuid.uuid4().hex[:6]}"
    owner = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"owner-{uuid.uuid4().hex[:8]}")
    status, _ = http("apply", {"app": owner, "connections": "orders:reader", "identity": f"create:{name}"}, APPLY)
    assert status == 200
    (created,) = attached(emulator, owner)
    owner_ids = emulator.site(owner)["identity"]["userAssignedIdentities"]
    assert created.endswith(f"/userassignedidentities/{name}")

    thief = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"thief-{uuid.uuid4().hex[:8]}")
    emulator.clear_requests()
    status, problem = http("apply", {"app": thief, "connections": "orders:writer", "identity": f"create:{name}"}, APPLY)
    assert status == 403 and "not created for" in problem["detail"]
    unchanged(emulator, pg_connect, thief)
    assert emulator.site(owner)["identity"]["userAssignedIdentities"] == owner_ids  # the owner keeps it
