"""Never take what a live namesake uses: rebind only the app's own earlier identity or a gone one;
adopt a ``create:<name>`` identity only when it was created for the app; remove after a delete only a
principal whose identity nothing live holds."""

from __future__ import annotations

from dataclasses import replace

import pytest

from provisioning.audit import DriftKind, drift_of
from provisioning.errors import Conflict, PolicyViolation, PrincipalConflict
from provisioning.models import IdentityHolder, OfferedIdentity, UserAssignedIdentity
from provisioning.plan import AttachUserIdentity, CreateUserIdentity, DropPrincipal, RebindPrincipal, SetAppSettings
from provisioning.planner import ATTACHED_IDENTITIES_SETTING, Desired, Observed, plan, plan_removal
from provisioning.policy import authorize
from provisioning.requests import request_from_tags
from provisioning.resource_ids import AppRef
from tests.factories import APP, OBJECT_ID, RG, SERVER, SUB, WRITER, bound, catalog, site

OLD = "0b1d0000-0000-4000-8000-0000000000aa"
NAMESAKE = AppRef(SUB, "rg-other-team", APP.site)
SWITCHED_TO = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/new"
ORDERS = replace(
    catalog(roles=["reader", "writer"], on_remove="revoke"),
    identities={SWITCHED_TO.lower(): OfferedIdentity(SWITCHED_TO, (f"/subscriptions/{SUB}/resourceGroups/{RG}",))},
)


def desired(identity: str | None = None) -> Desired:
    tags = {"passwordless": "orders:writer"} | ({"passwordless-identity": identity} if identity else {})
    request = request_from_tags(APP, tags)
    return Desired(request, authorize(request, ORDERS))


def observed(holders: dict[str, tuple[IdentityHolder, ...]], **changes: object) -> Observed:
    base = Observed(site(), {SERVER.id.key: SERVER}, {"orders": bound(OLD, WRITER)}, {}, holders)
    return replace(base, **changes)  # type: ignore[arg-type]


def steps(result: object) -> list[type]:
    return [type(step) for step in result.steps]  # type: ignore[attr-defined]


def test_a_principal_whose_identity_a_live_namesake_holds_is_a_conflict_naming_both_apps() -> None:
    with pytest.raises(PrincipalConflict) as refused:
        plan(desired(), observed({OLD: (IdentityHolder(NAMESAKE.id),)}))
    assert refused.value.holders == (NAMESAKE.id,)
    assert NAMESAKE.id in str(refused.value) and APP.id in str(refused.value)


def test_a_live_user_assigned_identity_holding_it_is_a_conflict_too() -> None:
    identity = f"/subscriptions/{SUB}/resourceGroups/rg-x/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x"
    with pytest.raises(PrincipalConflict):
        plan(desired(), observed({OLD: (IdentityHolder(identity, owner=NAMESAKE.id),)}))


@pytest.mark.parametrize(
    "holders",
    [
        pytest.param((), id="identity-gone"),
        pytest.param((IdentityHolder(APP.id.upper()),), id="graph-still-shows-the-app-itself"),
        pytest.param((IdentityHolder("/subscriptions/x/uai", owner=APP.id),), id="identity-created-for-the-app"),
    ],
)
def test_a_principal_of_a_gone_or_own_identity_is_rebound(holders: tuple[IdentityHolder, ...]) -> None:
    assert RebindPrincipal in steps(plan(desired(), observed({OLD: holders})))


def test_the_apps_own_earlier_identity_is_rebound_without_asking_who_holds_it() -> None:
    """An identity switch on this app: the principal is bound to its system identity, which it keeps."""
    switched = Observed(
        site(),
        {SERVER.id.key: SERVER},
        {"orders": bound(OBJECT_ID, WRITER)},
        {SWITCHED_TO.lower(): UserAssignedIdentity("0b1d0000-0000-4000-8000-0000000000bb", "c1")},
    )
    assert steps(plan(desired(SWITCHED_TO), switched))[:2] == [AttachUserIdentity, RebindPrincipal]


def test_an_unobserved_holder_is_never_assumed_gone() -> None:
    with pytest.raises(Conflict, match="not observed"):
        plan(desired(), observed({}))


def test_create_never_adopts_an_identity_created_for_another_app() -> None:
    identity_id = SWITCHED_TO.replace("/new", "/ids")
    others = UserAssignedIdentity("0b1d0000-0000-4000-8000-0000000000cc", "c2", owner=NAMESAKE.id)
    fresh = observed({OLD: ()}, user_identities={identity_id.lower(): others})
    with pytest.raises(PolicyViolation, match="not created for"):
        plan(desired("create:ids"), fresh)
    untagged = observed({OLD: ()}, user_identities={identity_id.lower(): replace(others, owner=None)})
    with pytest.raises(PolicyViolation, match="not created for"):
        plan(desired("create:ids"), untagged)
    mine = observed({OLD: ()}, user_identities={identity_id.lower(): replace(others, owner=APP.id.upper())})
    assert steps(plan(desired("create:ids"), mine))[0] is AttachUserIdentity
    absent = observed({OLD: ()})
    assert steps(plan(desired("create:ids"), absent))[:2] == [CreateUserIdentity, AttachUserIdentity]


@pytest.mark.parametrize(
    ("holders", "dropped"),
    [
        pytest.param({OLD: ()}, True, id="identity-gone-with-the-app"),
        pytest.param({OLD: (IdentityHolder(APP.id),)}, True, id="graph-lags-behind-the-delete"),
        pytest.param({OLD: (IdentityHolder(NAMESAKE.id),)}, False, id="a-live-namesakes-identity"),
        pytest.param({}, False, id="not-looked-up"),
    ],
)
def test_removal_after_a_delete_never_drops_a_principal_a_live_namesake_uses(
    holders: dict[str, tuple[IdentityHolder, ...]], dropped: bool
) -> None:
    target = ORDERS.targets["orders"]
    removal = plan_removal(APP, None, [target], {"orders": bound(OLD, WRITER)}, holders)
    assert steps(removal) == ([DropPrincipal] if dropped else [])


def test_an_identity_the_provisioner_attached_and_the_request_dropped_is_reported_never_detached() -> None:
    before = SWITCHED_TO.replace("/new", "/before")
    team_own = SWITCHED_TO.replace("/new", "/teams-own")
    ids = UserAssignedIdentity("0b1d0000-0000-4000-8000-0000000000bb", "c1")
    attached = {before: ids, team_own: ids, SWITCHED_TO: ids}
    recorded = {ATTACHED_IDENTITIES_SETTING: before.lower()}  # the provisioner attached 'before' earlier
    state = observed({}, site=replace(site(settings=recorded), user_assigned=attached))
    state = replace(state, databases={"orders": bound(OBJECT_ID, WRITER)})
    result = plan(desired(SWITCHED_TO), state)
    assert result.unrequested_identities == (before.lower(),)  # not the team's own, not the requested one
    assert not any(isinstance(step, AttachUserIdentity) for step in result.steps)
    (settings,) = [s for s in result.steps if isinstance(s, SetAppSettings)]
    assert dict(settings.set)[ATTACHED_IDENTITIES_SETTING] == ",".join(sorted([before.lower(), SWITCHED_TO.lower()]))
    assert [d.kind for d in drift_of(result, ORDERS)].count(DriftKind.PRIVILEGE_UNREQUESTED) == 1
