"""Storage, Key Vault and Service Bus through Azure RBAC, end to end against the emulator.

For each kind: an app tagged with it gets exactly one role assignment at the catalog's scope; with
the app's own token the data plane allows what the role allows and refuses the rest; the second plan
is empty; a no-op reconcile writes nothing to ARM; dropping the entry revokes our assignment only,
and an assignment someone else made is never touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from provisioning.errors import PermanentError
from provisioning.rbac_roles import BUILT_IN_ROLES
from provisioning.reconciler import Mode
from provisioning.resource_ids import parse_app_id
from tests.data_planes import BUS_AUDIENCE, STORAGE_AUDIENCE, VAULT_AUDIENCE, call
from tests.estates import ACCOUNT_ID, APPS_GROUP, NAMESPACE, RBAC_SCOPES, STORAGE, SUBSCRIPTION, VAULT

pytestmark = pytest.mark.integration
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"


@dataclass(frozen=True)
class DataPlane:
    """Calls the app makes with its own token: (allowed by the role, refused by it)."""

    allowed: Callable[[Any, str], int]
    refused: Callable[[Any, str], int]


def reference_resolves(emulator: Any, app: str) -> int:
    resolved = emulator.resolved_app_settings(app)
    return 200 if resolved.get("PARTNER_API_KEY") == "pk-2" else 403


CASES: dict[str, tuple[str, str, DataPlane]] = {
    # tag, scope of the one assignment, what the role allows and refuses
    "storage-blob": (
        "invoices:reader",
        RBAC_SCOPES["invoices"],
        DataPlane(
            lambda e, a: call(e, a, STORAGE_AUDIENCE, "GET", f"/blob/{STORAGE}/invoices/first.json"),
            lambda e, a: call(e, a, STORAGE_AUDIENCE, "PUT", f"/blob/{STORAGE}/invoices/first.json", b"x"),
        ),
    ),
    "storage-queue": (
        "jobs:sender",
        RBAC_SCOPES["jobs"],
        DataPlane(
            lambda e, a: call(
                e, a, STORAGE_AUDIENCE, "POST", f"/queue/{STORAGE}/jobs/messages",
                b"<QueueMessage><MessageText>hi</MessageText></QueueMessage>",
            ),
            lambda e, a: call(e, a, STORAGE_AUDIENCE, "GET", f"/queue/{STORAGE}/jobs/messages"),
        ),
    ),
    "keyvault-secrets": (
        "payments-kv:reader",
        RBAC_SCOPES["payments-kv"],
        DataPlane(
            lambda e, a: call(e, a, VAULT_AUDIENCE, "GET", f"/vault/{VAULT}/secrets/stripe-key"),
            lambda e, a: call(e, a, VAULT_AUDIENCE, "GET", f"/vault/{VAULT}/secrets/partner-key"),
        ),
    ),
    "keyvault-reference": (
        "partner-key:reader",
        RBAC_SCOPES["partner-key"],
        DataPlane(
            reference_resolves,
            lambda e, a: call(e, a, VAULT_AUDIENCE, "GET", f"/vault/{VAULT}/secrets/stripe-key"),
        ),
    ),
    "servicebus": (
        "orders-bus:sender",
        RBAC_SCOPES["orders-bus"],
        DataPlane(
            lambda e, a: call(e, a, BUS_AUDIENCE, "POST", f"/servicebus/{NAMESPACE}/orders/messages", b"order"),
            lambda e, a: call(e, a, BUS_AUDIENCE, "DELETE", f"/servicebus/{NAMESPACE}/orders/messages/head"),
        ),
    ),
}  # fmt: skip


def assignments_of(emulator: Any, principal: str) -> list[dict[str, Any]]:
    return [a for a in emulator.role_assignments() if a["properties"]["principalId"] == principal]


def arm_writes(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.kind in ("write", "delete")]


def provisioned(runtime: Any, emulator: Any, name: str, tag: str) -> tuple[str, str]:
    """An app created with the tag and reconciled once: its id and its system identity's object id."""
    app = emulator.create_site(SUBSCRIPTION, APPS_GROUP, name, tags={"passwordless": tag})
    runtime.reconciler.reconcile_app(parse_app_id(app))
    return app, emulator.identity_of(app)[0]


@pytest.mark.parametrize("kind", list(CASES))
def test_an_rbac_target_converges_at_its_scope_and_opens_only_what_its_role_allows(
    kind: str, runtime: Any, emulator: Any, run_id: str
) -> None:
    tag, scope, plane = CASES[kind]
    emulator.put_blob(ACCOUNT_ID, "invoices", "first.json", b'{"n": 1}')
    app = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"rbac-{kind}-{run_id}", tags={"passwordless": tag})
    reconciler = runtime.reconciler

    first = reconciler.reconcile_app(parse_app_id(app))
    principal = emulator.identity_of(app)[0]
    ours = assignments_of(emulator, principal)
    assert [(a["properties"]["scope"], a["properties"]["principalType"]) for a in ours] == [(scope, "ServicePrincipal")]
    assert first.applied and plane.allowed(emulator, app) in (200, 201)
    assert plane.refused(emulator, app) in (401, 403)
    assert reconciler.reconcile_app(parse_app_id(app), Mode.PLAN).plan.empty

    emulator.clear_requests()
    again = reconciler.reconcile_app(parse_app_id(app))
    assert (again.applied, arm_writes(emulator)) == (False, [])
    assert len(emulator.requests) <= 3, [(r.method, r.path) for r in emulator.requests]

    # Someone else's assignments, to this app and at this scope, are never ours to touch.
    other_role = BUILT_IN_ROLES["Storage Queue Data Reader" if kind == "storage-blob" else "Storage Blob Data Reader"]
    by_hand = emulator.assign_role(scope, other_role, principal)
    emulator.set_tags(app, {"passwordless": "orders-bus:receiver" if kind != "servicebus" else "invoices:reader"})
    emulator.clear_requests()
    reconciler.reconcile_app(parse_app_id(app))
    remaining = {a["id"] for a in assignments_of(emulator, principal)}
    assert by_hand in remaining
    assert all(a["properties"]["scope"] != scope or a["id"] == by_hand for a in assignments_of(emulator, principal))
    deletes = [r for r in emulator.requests if r.kind == "delete"]
    assert len(deletes) == 1 and ours[0]["name"] in deletes[0].path


def test_settings_carry_service_connector_names_and_the_key_vault_reference(
    runtime: Any, emulator: Any, run_id: str
) -> None:
    app = emulator.create_site(
        SUBSCRIPTION,
        APPS_GROUP,
        f"rbac-settings-{run_id}",
        tags={"passwordless": "invoices:writer; payments-kv:reader; orders-bus:sender; partner-key:reader"},
        app_settings={"UNRELATED": "kept"},
    )
    runtime.reconciler.reconcile_app(parse_app_id(app))

    settings = emulator.app_settings(app)
    base = emulator.arm_endpoint
    assert settings["AZURE_STORAGEBLOB_RESOURCEENDPOINT"] == f"{base}/blob/{STORAGE}/"
    assert settings["AZURE_KEYVAULT_RESOURCEENDPOINT"] == f"{base}/vault/{VAULT}/"
    assert settings["AZURE_SERVICEBUS_FULLYQUALIFIEDNAMESPACE"] == f"{base.split('://')[1]}/servicebus/{NAMESPACE}"
    assert settings["PARTNER_API_KEY"] == f"@Microsoft.KeyVault(SecretUri={base}/vault/{VAULT}/secrets/partner-key)"
    assert settings["UNRELATED"] == "kept"
    assert emulator.resolved_app_settings(app)["PARTNER_API_KEY"] == "pk-2"
    assert not any("sk-test" in value or "pk-2" in value for value in settings.values())  # no secret is ever written


def runtime_with_catalog(
    product_environment: dict[str, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch, edit: Callable[[Any], None]
) -> Any:
    """A fresh worker reading the test catalog as ``edit`` left it (a redeploy of the catalog)."""
    from provisioning.config import Config
    from provisioning.runtime import build_runtime

    with open(product_environment["PASSWORDLESS_CATALOG"], encoding="utf-8") as source:
        document = json.load(source)
    edit(document)
    edited = tmp_path / "catalog.json"
    edited.write_text(json.dumps(document), encoding="utf-8")
    monkeypatch.setenv("PASSWORDLESS_CATALOG", str(edited))
    return build_runtime(Config.from_environment())


def test_a_role_outside_the_delegation_condition_is_refused_by_arm_and_nothing_is_assigned(
    emulator: Any, run_id: str, product_environment: dict[str, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The function's Role Based Access Control Administrator holds only the catalog's roles: a catalog
    edited to hand out Owner (a role the deployed condition does not list) gets ARM's 403."""

    def add_greedy(document: Any) -> None:
        document["targets"].append(
            {
                "name": "greedy",
                "kind": "storage-blob",
                "resource": RBAC_SCOPES["invoices"].replace("invoices", "archive"),
                "roles": {"owner": OWNER},
                "allowed_sources": [f"/subscriptions/{SUBSCRIPTION}"],
            }
        )

    reconciler = runtime_with_catalog(product_environment, tmp_path, monkeypatch, add_greedy).reconciler
    app = emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"rbac-greedy-{run_id}", tags={"passwordless": "greedy:owner"})
    before = emulator.role_assignments()

    with pytest.raises(PermanentError, match="AuthorizationFailed"):
        reconciler.reconcile_app(parse_app_id(app))
    assert emulator.role_assignments() == before


def test_the_audit_names_missing_and_stale_roles_with_the_command_that_fixes_them(
    runtime: Any, emulator: Any, run_id: str
) -> None:
    from provisioning.audit import DriftKind, audit

    app, old_principal = provisioned(runtime, emulator, f"rbac-audit-{run_id}", "invoices:reader; jobs:sender")
    reconciler = runtime.reconciler
    (queue_assignment,) = [
        a for a in assignments_of(emulator, old_principal) if a["properties"]["scope"] == RBAC_SCOPES["jobs"]
    ]
    emulator.remove_role_assignment(queue_assignment["id"])

    def audited() -> tuple[list[Any], list[Any]]:
        sites = [s for s in runtime.discovery.list_tagged_apps() if s.app.key == app.lower()]
        report = audit(reconciler, sites)
        (mine,) = report.apps
        return list(mine.drift), [o for o in report.orphans if o.kind is DriftKind.ROLE_STALE]

    drift, _ = audited()
    assert [(d.kind, d.target) for d in drift] == [(DriftKind.ROLE_MISSING, "jobs")]
    assert "az role assignment create" in drift[0].detail and RBAC_SCOPES["jobs"] in drift[0].detail

    emulator.recreate_system_identity(app)  # the app was deleted and created again under its name
    reconciler.reconcile_app(parse_app_id(app))
    _, stale = audited()
    mine = [o for o in stale if old_principal in o.detail]
    assert [(o.target, "az role assignment delete --ids" in o.detail) for o in mine] == [("invoices", True)]
    assert not [o for o in stale if emulator.identity_of(app)[0] in o.detail]

    # The timer's path: parts over the queue, the last worker aggregates and scans the RBAC scopes once.
    reports = [runtime.audits.run_part(m) for m in runtime.audits.start(correlation_id=f"rbac-{run_id}")]
    (queued,) = [r for r in reports if r is not None]
    found = [o.target for o in queued.orphans if o.kind is DriftKind.ROLE_STALE and old_principal in o.detail]
    assert found == ["invoices"]
    assert not [o for o in queued.orphans if emulator.identity_of(app)[0] in o.detail]  # the live one is claimed


def test_a_key_vault_reference_through_a_user_assigned_identity_names_it_on_the_site(
    runtime: Any, emulator: Any, run_id: str
) -> None:
    identity = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}"
        "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/shared-id"
    )
    app = emulator.create_site(
        SUBSCRIPTION,
        APPS_GROUP,
        f"rbac-uami-{run_id}",
        tags={"passwordless": "partner-key:reader", "passwordless-identity": identity},
    )
    assert emulator.resolved_app_settings(app) == {}

    runtime.reconciler.reconcile_app(parse_app_id(app))

    site = emulator.site(app)
    assert site["properties"]["keyVaultReferenceIdentity"].lower() == identity.lower()
    assert emulator.identity_of(app) is None  # no system identity was switched on for this
    assert emulator.resolved_app_settings(app)["PARTNER_API_KEY"] == "pk-2"
    assert runtime.reconciler.reconcile_app(parse_app_id(app), Mode.PLAN).plan.empty


def test_a_deleted_app_loses_what_we_assigned_where_the_catalog_says_revoke(
    runtime: Any, emulator: Any, run_id: str
) -> None:
    app, principal = provisioned(runtime, emulator, f"rbac-gone-{run_id}", "jobs:sender; invoices:reader")
    assert {a["properties"]["scope"] for a in assignments_of(emulator, principal)} == {
        RBAC_SCOPES["jobs"],
        RBAC_SCOPES["invoices"],
    }

    emulator.delete_site(app)
    removed = runtime.reconciler.remove_app(parse_app_id(app))

    # jobs says on_remove: revoke; invoices keeps the default (report: the audit names it role-stale)
    assert [a["properties"]["scope"] for a in assignments_of(emulator, principal)] == [RBAC_SCOPES["invoices"]]
    assert removed.applied and runtime.reconciler.remove_app(parse_app_id(app), Mode.PLAN).plan.empty


def test_dropping_the_only_rbac_entry_revokes_our_assignment_and_leaves_someone_elses(
    runtime: Any, emulator: Any, run_id: str
) -> None:
    app, principal = provisioned(runtime, emulator, f"rbac-last-{run_id}", "orders:writer; invoices:reader")
    reconciler = runtime.reconciler
    by_hand = emulator.assign_role(RBAC_SCOPES["invoices"], BUILT_IN_ROLES["Storage Queue Data Reader"], principal)
    assert len(assignments_of(emulator, principal)) == 2

    emulator.set_tags(app, {"passwordless": "orders:writer"})
    reconciler.reconcile_app(parse_app_id(app))

    assert [a["id"] for a in assignments_of(emulator, principal)] == [by_hand]
    assert "AZURE_STORAGEBLOB_RESOURCEENDPOINT" not in emulator.app_settings(app)
    assert reconciler.reconcile_app(parse_app_id(app), Mode.PLAN).plan.empty


def test_an_rbac_entry_the_catalog_stops_offering_keeps_its_assignment_and_is_not_reported_as_ours_to_remove(
    runtime: Any,
    emulator: Any,
    run_id: str,
    product_environment: dict[str, str],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from provisioning.audit import DriftKind, audit

    app, principal = provisioned(runtime, emulator, f"rbac-skipped-{run_id}", "invoices:writer; jobs:sender")
    before = sorted(a["id"] for a in assignments_of(emulator, principal))
    assert len(before) == 2

    def stop_offering_writer(document: Any) -> None:
        (invoices,) = [t for t in document["targets"] if t["name"] == "invoices"]
        invoices["roles"] = ["reader"]

    edited = runtime_with_catalog(product_environment, tmp_path, monkeypatch, stop_offering_writer)
    emulator.clear_requests()
    result = edited.reconciler.reconcile_app(parse_app_id(app))

    assert sorted(a["id"] for a in assignments_of(emulator, principal)) == before
    assert [r for r in emulator.requests if r.kind == "delete"] == []
    assert [e.target for e in result.plan.skipped] == ["invoices"]
    sites = [s for s in edited.discovery.list_tagged_apps() if s.app.key == app.lower()]
    report = audit(edited.reconciler, sites)
    assert [(d.kind, d.target) for entry in report.apps for d in entry.drift] == [(DriftKind.POLICY_DENIED, "invoices")]
    assert not [o for o in report.orphans if principal in o.detail]


def test_switching_identity_moves_our_assignments_to_the_new_one_and_leaves_someone_elses(
    runtime: Any, emulator: Any, run_id: str
) -> None:
    """As a database principal is rebound, a role follows the identity the app uses: the identity it
    no longer uses (its system identity stays on) keeps nothing this product assigned for the app."""
    name = f"rbac-switch-{run_id}"
    app, system = provisioned(runtime, emulator, name, "orders:writer; invoices:reader")
    by_hand = emulator.assign_role(RBAC_SCOPES["invoices"], BUILT_IN_ROLES["Storage Queue Data Reader"], system)

    emulator.set_tags(
        app, {"passwordless": "orders:writer; invoices:reader", "passwordless-identity": f"create:{name}-id"}
    )
    runtime.reconciler.reconcile_app(parse_app_id(app))

    (created,) = emulator.site(app)["identity"]["userAssignedIdentities"].values()
    moved = assignments_of(emulator, created["principalId"])
    assert [(a["properties"]["scope"], a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1]) for a in moved] == [
        (RBAC_SCOPES["invoices"], BUILT_IN_ROLES["Storage Blob Data Reader"])
    ]
    assert emulator.identity_of(app) is not None  # the system identity is still on
    assert [a["id"] for a in assignments_of(emulator, system)] == [by_hand]
    assert runtime.reconciler.reconcile_app(parse_app_id(app), Mode.PLAN).plan.empty


def test_a_skipped_entry_whose_target_left_the_catalog_keeps_its_assignment_and_the_others_follow_the_identity(
    runtime: Any,
    emulator: Any,
    run_id: str,
    product_environment: dict[str, str],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The catalog no longer has ``jobs``, so nothing tells its scope; what this product made for
    ``jobs`` still says so in its description and stays, while ``invoices`` moves to the new identity."""
    name = f"rbac-unknown-skip-{run_id}"
    app, system = provisioned(runtime, emulator, name, "invoices:reader; jobs:sender")

    def remove_jobs(document: Any) -> None:
        document["targets"] = [t for t in document["targets"] if t["name"] != "jobs"]

    edited = runtime_with_catalog(product_environment, tmp_path, monkeypatch, remove_jobs)
    emulator.set_tags(
        app, {"passwordless": "invoices:reader; jobs:sender", "passwordless-identity": f"create:{name}-id"}
    )
    result = edited.reconciler.reconcile_app(parse_app_id(app))

    assert [e.target for e in result.plan.skipped] == ["jobs"]
    (created,) = emulator.site(app)["identity"]["userAssignedIdentities"].values()
    scopes = {
        p: [a["properties"]["scope"] for a in assignments_of(emulator, p)] for p in (system, created["principalId"])
    }
    assert scopes == {system: [RBAC_SCOPES["jobs"]], created["principalId"]: [RBAC_SCOPES["invoices"]]}
    assert edited.reconciler.reconcile_app(parse_app_id(app), Mode.PLAN).plan.empty


def test_a_removed_tag_revokes_our_assignment_and_removes_the_managed_settings(
    runtime: Any, emulator: Any, run_id: str
) -> None:
    """``orders`` says on_remove: report (its principal stays, for the audit to report), ``jobs`` says
    revoke: the assignment goes, and so do the managed settings, as when a database principal goes."""
    app, principal = provisioned(runtime, emulator, f"rbac-untagged-{run_id}", "orders:writer; jobs:sender")
    assert "AZURE_STORAGEQUEUE_RESOURCEENDPOINT" in emulator.app_settings(app)

    emulator.set_tags(app, {})
    runtime.reconciler.reconcile_app(parse_app_id(app))

    assert assignments_of(emulator, principal) == []
    assert not [key for key in emulator.app_settings(app) if key.startswith(("AZURE_", "PASSWORDLESS_"))]
    assert runtime.reconciler.reconcile_app(parse_app_id(app), Mode.PLAN) is None
