"""Variants of each attack, generated where the space is large: the rule holds, not just the case.

Resource ids compare case-insensitively and segment by segment (ARM's rule), so a spelling never turns
a refusal into a grant, and a string prefix (``rg-apps`` of ``rg-apps-evil``) is never a path prefix.
Every refusal is checked end to end (the indexed HTTP function or the reconciler a trigger calls, the
emulator as ARM, the real PostgreSQL) together with "nothing changed": no ARM write in the emulator's
request log, no identity, no setting, no principal created or moved.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.errors import PolicyViolation
from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.requests import REQUEST_SETTING
from provisioning.resource_ids import is_within, parse_app_id
from provisioning.runtime import shared_runtime
from tests.estates import APPS_GROUP, SUBSCRIPTION, TEAM_B_GROUP, user_identity_id
from tests.security.conftest import arm_writes, principal_header, role_binding
from tests.security.test_principal_takeover import reads_orders

pytestmark = pytest.mark.integration
APPLY = {"X-MS-CLIENT-PRINCIPAL": principal_header("Passwordless.Apply")}
FEW = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
OTHER_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000b2"


def spelled(text: str) -> st.SearchStrategy[str]:
    """``text`` with any letter in either case: ARM ids ignore case, so every spelling is the same id."""
    return st.lists(st.booleans(), min_size=len(text), max_size=len(text)).map(
        lambda upper: "".join(c.upper() if u else c.lower() for c, u in zip(text, upper, strict=True))
    )


def id_spellings(resource_id: str) -> st.SearchStrategy[str]:
    """Any casing of every segment (``resourcegroups``, ``MICROSOFT.MANAGEDIDENTITY``...), with or
    without a trailing slash."""
    return st.tuples(spelled(resource_id), st.sampled_from(["", "/"])).map("".join)


def nothing_changed(emulator: Any, pg_connect: Any, app_id: str) -> None:
    assert arm_writes(emulator) == []
    site = emulator.site(app_id)
    assert not (site.get("identity") or {}).get("userAssignedIdentities") and emulator.identity_of(app_id) is None
    assert REQUEST_SETTING not in emulator.app_settings(app_id)
    assert role_binding(pg_connect, principal_name(parse_app_id(app_id), Engine.POSTGRES)) is None


# --- identity consent: spellings of the identity id, and of the app's scope ---------------------------


@FEW
@given(identity=id_spellings(user_identity_id(TEAM_B_GROUP, "team-b-prod-id")), app_case=st.booleans())
def test_no_spelling_of_another_teams_identity_id_is_attached(
    emulator: Any, http: Any, pg_connect: Any, thief_site: str, identity: str, app_case: bool
) -> None:
    app = thief_site.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/") if app_case else thief_site
    emulator.clear_requests()
    status, problem = http("apply", {"app": app, "connections": "orders:reader", "identity": identity}, APPLY)
    assert status == 403 and problem["title"] == "Denied by policy"
    assert "is not offered to app" in problem["detail"] and "shared-id" not in problem["detail"]
    nothing_changed(emulator, pg_connect, thief_site)


@pytest.fixture
def thief_site(emulator: Any) -> str:
    return str(emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"thief-{uuid.uuid4().hex[:8]}"))


@FEW
@given(suffix=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=6), slot=st.booleans())
def test_a_group_whose_name_only_starts_like_the_offered_one_gets_neither_identity_nor_target(
    emulator: Any, http: Any, pg_connect: Any, suffix: str, slot: bool
) -> None:
    """``shared-id`` and ``foreign`` are offered to ``rg-apps``: ``rg-apps<suffix>`` is another group."""
    group = APPS_GROUP + suffix
    site = emulator.create_site(SUBSCRIPTION, group, f"near-{uuid.uuid4().hex[:8]}")
    app = emulator.create_site(SUBSCRIPTION, group, site.rsplit("/", 1)[1], slot="staging") if slot else site
    emulator.clear_requests()
    shared = user_identity_id(APPS_GROUP, "shared-id")
    for body in (
        {"app": app, "connections": "foreign:reader"},
        {"app": app, "connections": "orders:reader", "identity": shared},
    ):
        status, problem = http("apply", body, APPLY)
        assert status == 403 and problem["title"] == "Denied by policy"
    nothing_changed(emulator, pg_connect, app)


def test_a_slot_wears_its_own_teams_identity_but_never_another_teams(emulator: Any, http: Any, pg_connect: Any) -> None:
    name = f"slotted-{uuid.uuid4().hex[:8]}"
    emulator.create_site(SUBSCRIPTION, TEAM_B_GROUP, name)
    slot_b = emulator.create_site(SUBSCRIPTION, TEAM_B_GROUP, name, slot="staging")
    emulator.clear_requests()
    shared = user_identity_id(APPS_GROUP, "shared-id")  # offered to rg-apps only
    status, problem = http("apply", {"app": slot_b, "connections": "orders:reader", "identity": shared}, APPLY)
    assert status == 403 and "is not offered to app" in problem["detail"]
    nothing_changed(emulator, pg_connect, slot_b)

    own = user_identity_id(TEAM_B_GROUP, "team-b-prod-id")
    status, result = http("apply", {"app": slot_b, "connections": "orders:reader", "identity": own.upper()}, APPLY)
    assert status == 200 and result["outcome"] == "converged"
    worn = {rid.lower() for rid in emulator.site(slot_b)["identity"]["userAssignedIdentities"]}
    assert worn == {own.lower()}


def test_a_request_kept_on_the_app_by_hand_is_held_to_the_same_consent(
    emulator: Any, runtime: Any, pg_connect: Any, thief_site: str
) -> None:
    """A team writes the pipeline's kept request (PASSWORDLESS_REQUEST) on its app itself, naming
    another team's identity in an odd spelling: the reconcile an event starts refuses it."""
    forged = json.dumps({"connections": "orders:writer", "identity": user_identity_id(TEAM_B_GROUP, "TEAM-B-PROD-ID")})
    emulator.set_app_setting(thief_site, REQUEST_SETTING, forged)
    emulator.clear_requests()
    with pytest.raises(PolicyViolation, match="is not offered to app"):
        runtime.reconciler.reconcile_app(parse_app_id(thief_site))
    assert arm_writes(emulator) == [] and emulator.identity_of(thief_site) is None
    assert emulator.app_settings(thief_site) == {REQUEST_SETTING: forged}


def test_a_denial_reads_the_same_for_a_target_that_exists_elsewhere_and_one_that_does_not(
    emulator: Any, http: Any
) -> None:
    """No oracle: ``foreign`` exists (offered to rg-apps only); a team-b app must not tell it from a
    name that exists nowhere."""
    app = emulator.create_site(SUBSCRIPTION, TEAM_B_GROUP, f"probe-{uuid.uuid4().hex[:8]}")
    details = []
    for target in ("foreign", "nosuchtarget"):
        status, problem = http("apply", {"app": app, "connections": f"{target}:reader"}, APPLY)
        assert status == 403
        details.append(problem["detail"].replace(target, "<target>"))
    assert details[0] == details[1]
    identity_details = []
    for identity in (user_identity_id(APPS_GROUP, "shared-id"), user_identity_id(APPS_GROUP, "no-such-id")):
        status, problem = http("apply", {"app": app, "connections": "orders:reader", "identity": identity}, APPLY)
        assert status == 403
        identity_details.append(problem["detail"].replace(identity, "<identity>"))
    assert identity_details[0] == identity_details[1]


@given(
    group=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.()", min_size=1, max_size=12),
    suffix=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.()", min_size=1, max_size=6),
    upper=st.booleans(),
    slash=st.booleans(),
)
def test_scope_containment_is_by_path_segment_never_by_string_prefix(
    group: str, suffix: str, upper: bool, slash: bool
) -> None:
    """The rule under every consent check (pure): any spelling of a group contains its own apps and
    slots, never those of a group whose name merely starts the same."""
    scope = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}" + ("/" if slash else "")
    scope = scope.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/") if upper else scope
    app = f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{group}/providers/Microsoft.Web/sites/a"
    assert is_within(app, scope) and is_within(app + "/slots/s", scope)
    near = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}{suffix}/providers/Microsoft.Web/sites/a"
    assert not is_within(near, scope)


# --- create:<name> --------------------------------------------------------------------------------------


@FEW
@given(upper=st.lists(st.booleans(), min_size=14, max_size=14))
def test_no_spelling_of_create_name_adopts_an_identity_created_for_another_app(
    emulator: Any, http: Any, pg_connect: Any, created: tuple[str, str, dict[str, Any]], upper: list[bool]
) -> None:
    owner, name, owner_ids = created
    variant = "".join(c.upper() if u else c for c, u in zip(name, upper, strict=True))
    thief = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"thief-{uuid.uuid4().hex[:8]}")
    emulator.clear_requests()
    status, problem = http(
        "apply", {"app": thief, "connections": "orders:writer", "identity": f"create:{variant}"}, APPLY
    )
    assert status == 403 and "not created for" in problem["detail"]
    nothing_changed(emulator, pg_connect, thief)
    assert emulator.site(owner)["identity"]["userAssignedIdentities"] == owner_ids


@pytest.fixture
def created(emulator: Any, http: Any) -> tuple[str, str, dict[str, Any]]:
    name = f"made-{uuid.uuid4().hex[:9]}"
    owner = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"owner-{uuid.uuid4().hex[:8]}")
    status, _ = http("apply", {"app": owner, "connections": "orders:reader", "identity": f"create:{name}"}, APPLY)
    assert status == 200
    return owner, name, emulator.site(owner)["identity"]["userAssignedIdentities"]


def test_the_owner_keeps_its_created_identity_whatever_the_spelling_of_its_id_and_the_name(
    emulator: Any, http: Any, created: tuple[str, str, dict[str, Any]]
) -> None:
    """The owner tag holds the app id as first written; ARM ids ignore case, so the owner asking again
    with its id and the name in other cases is still the owner: nothing is created or retagged."""
    owner, name, owner_ids = created
    emulator.clear_requests()
    body = {"app": owner.lower(), "connections": "orders:reader", "identity": f"create:{name.upper()}"}
    status, result = http("apply", body, APPLY)
    assert status == 200 and result["outcome"] == "converged"
    writes = arm_writes(emulator)  # only the kept request, now in the new spelling, is rewritten
    assert all(w.startswith("PUT ") and w.endswith("/config/appsettings") for w in writes), writes
    assert emulator.site(owner)["identity"]["userAssignedIdentities"] == owner_ids


# --- forged caller header: WEBSITE_AUTH_ENABLED as the platform writes it, and nothing else ----------


@FEW
@given(value=st.sampled_from(["", "1", "yes", "on", "false", "False", " True", "True ", "\tTRUE", "true\n", "Tru"]))
def test_a_forged_role_header_is_never_read_unless_the_platform_says_authentication_is_on(
    emulator: Any, http: Any, thief_site: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Microsoft Learn, "Environment variables and app settings reference": WEBSITE_AUTH_ENABLED is
    read-only, injected by the platform as ``True``; Identity.Web compares it to ``true`` ignoring case.
    Anything else (``1``, a padded value) means the platform does not strip a caller's own header."""
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", value)
    shared_runtime.cache_clear()  # a new worker reads its settings afresh
    emulator.clear_requests()
    body = {"app": thief_site, "connections": "orders:writer"}
    status, problem = http("apply", body, {"X-MS-CLIENT-PRINCIPAL": principal_header("Passwordless.Apply")})
    assert status == 403 and problem["title"] == "Authentication not configured"
    assert emulator.requests == [] and emulator.identity_of(thief_site) is None


@pytest.mark.parametrize("value", ["True", "true", "TRUE"])
def test_any_case_of_true_turns_the_role_check_on(
    emulator: Any, http: Any, thief_site: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", value)
    emulator.clear_requests()
    status, problem = http(
        "apply",
        {"app": thief_site, "connections": "orders:writer"},
        {"X-MS-CLIENT-PRINCIPAL": principal_header("Reader")},
    )
    assert status == 403 and problem["title"] == "Role required"
    assert emulator.requests == []


# --- principal takeover: across subscriptions, and between slots ------------------------------------


def test_a_namesake_in_another_subscription_gets_a_conflict_and_the_first_keeps_its_access(
    emulator: Any,
    http: Any,
    pg_connect: Any,
    product_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    """The catalog offers ``orders`` to a resource group of a second subscription the function also
    serves; an app there with the first app's site name must not take its principal."""
    with open(product_environment["PASSWORDLESS_CATALOG"], encoding="utf-8") as handle:
        catalog = json.load(handle)
    for target in catalog["targets"]:
        if target["name"] == "orders":
            target["allowed_sources"].append(f"/subscriptions/{OTHER_SUBSCRIPTION}/resourceGroups/rg-other-sub")
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog), encoding="utf-8")
    monkeypatch.setenv("PASSWORDLESS_CATALOG", str(path))
    monkeypatch.setenv("PASSWORDLESS_SUBSCRIPTIONS", f"{SUBSCRIPTION},{OTHER_SUBSCRIPTION}")

    name = f"xsub-{uuid.uuid4().hex[:8]}"
    first = emulator.create_site(SUBSCRIPTION, APPS_GROUP, name)
    assert http("apply", {"app": first, "connections": "orders:reader"}, APPLY)[0] == 200
    principal = principal_name(parse_app_id(first), Engine.POSTGRES)
    first_identity, _ = emulator.identity_of(first)

    second = emulator.create_site(OTHER_SUBSCRIPTION, "rg-other-sub", name)
    emulator.clear_requests()
    status, problem = http("apply", {"app": second, "connections": "orders:writer"}, APPLY)
    assert status == 409 and first in problem["detail"]
    assert arm_writes(emulator) == [] and emulator.identity_of(second) is None
    assert role_binding(pg_connect, principal) == first_identity
    assert reads_orders(pg_connect, principal) >= 1


def test_a_namesake_slot_gets_a_conflict_and_the_first_slot_keeps_its_access(
    emulator: Any, http: Any, pg_connect: Any
) -> None:
    name = f"slt-{uuid.uuid4().hex[:8]}"
    emulator.create_site(SUBSCRIPTION, APPS_GROUP, name)
    first = emulator.create_site(SUBSCRIPTION, APPS_GROUP, name, slot="staging")
    assert http("apply", {"app": first, "connections": "orders:reader"}, APPLY)[0] == 200
    principal = principal_name(parse_app_id(first), Engine.POSTGRES)
    first_identity, _ = emulator.identity_of(first)

    emulator.create_site(SUBSCRIPTION, TEAM_B_GROUP, name)
    second = emulator.create_site(SUBSCRIPTION, TEAM_B_GROUP, name, slot="staging")
    emulator.clear_requests()
    status, problem = http("apply", {"app": second, "connections": "orders:writer"}, APPLY)
    assert status == 409 and first in problem["detail"]
    assert arm_writes(emulator) == [] and emulator.identity_of(second) is None
    assert role_binding(pg_connect, principal) == first_identity
    assert reads_orders(pg_connect, principal) >= 1


# --- removal of a deleted app whose identity a live slot still wears ---------------------------------


def test_removing_a_deleted_app_keeps_its_principal_while_a_live_slot_wears_the_identity(
    emulator: Any, runtime: Any, http: Any, pg_connect: Any
) -> None:
    """``ledger`` is ``on_remove: revoke``. The deleted app's identity was created for it, but a live
    slot of another app wears it (attached by hand) and can log in as the principal: it is not dropped."""
    name = f"gone-{uuid.uuid4().hex[:8]}"
    gone = emulator.create_site(SUBSCRIPTION, APPS_GROUP, name)
    body = {"app": gone, "connections": "ledger:reader", "identity": f"create:{name}-id"}
    assert http("apply", body, APPLY)[0] == 200
    (identity_id,) = emulator.site(gone)["identity"]["userAssignedIdentities"]
    principal = principal_name(parse_app_id(gone), Engine.POSTGRES)
    bound = role_binding(pg_connect, principal)
    assert bound is not None

    other = f"keeper-{uuid.uuid4().hex[:8]}"
    emulator.create_site(SUBSCRIPTION, APPS_GROUP, other)
    slot = emulator.create_site(SUBSCRIPTION, APPS_GROUP, other, slot="blue")
    emulator.attach_user_identity(slot, identity_id)
    emulator.delete_site(gone)

    emulator.clear_requests()
    assert runtime.reconciler.remove_app(parse_app_id(gone)).plan.empty
    assert arm_writes(emulator) == []
    assert role_binding(pg_connect, principal) == bound
