"""The planner, table-driven: desired + observed -> the exact steps."""

from __future__ import annotations

import pytest

from provisioning.models import Administrator, DatabaseState, Grant, PrincipalState, ServerInfo, SiteState
from provisioning.plan import (
    CreatePrincipal,
    EnableSystemIdentity,
    GrantPrivileges,
    RebindPrincipal,
    RevokePrivileges,
    SetAppSettings,
)
from provisioning.planner import Desired, Observed, desired_settings, plan
from provisioning.policy import authorize
from provisioning.requests import request_from_tags
from provisioning.resource_ids import parse_resource_id
from tests.factories import APP, OBJECT_ID, SERVER_ID, catalog, empty_database, site

SERVER = ServerInfo(parse_resource_id(SERVER_ID), "127.0.0.1", (Administrator("f", "passwordless-func"),))
TABLES = {"table": (("public", "orders"),), "sequence": (("public", "orders_id_seq"),)}
READER = frozenset(
    {
        Grant("database", ("orders",), "CONNECT"),
        Grant("schema", ("public",), "USAGE"),
        Grant("table", ("public", "orders"), "SELECT"),
        Grant("sequence", ("public", "orders_id_seq"), "SELECT"),
        Grant("default_table", ("orders_owner", "public"), "SELECT"),
        Grant("default_sequence", ("orders_owner", "public"), "SELECT"),
    }
)
WRITER = (
    READER
    | {Grant("table", ("public", "orders"), p) for p in ("INSERT", "UPDATE", "DELETE")}
    | {Grant("default_table", ("orders_owner", "public"), p) for p in ("INSERT", "UPDATE", "DELETE")}
    | {
        Grant("sequence", ("public", "orders_id_seq"), "USAGE"),
        Grant("default_sequence", ("orders_owner", "public"), "USAGE"),
    }
)


def bound(object_id: str = OBJECT_ID, grants: frozenset[Grant] = frozenset()) -> DatabaseState:
    return DatabaseState(PrincipalState("shop-web", object_id), grants, TABLES, "orders_owner")


def desired_for(tag: str) -> Desired:
    request = request_from_tags(APP, {"passwordless": tag})
    return Desired(request, authorize(request, catalog(roles=["reader", "writer", "ddl"])))


def converged_settings(tag: str, current: SiteState) -> dict[str, str]:
    desired = desired_for(tag)
    wanted = desired_settings(desired, Observed(current, {SERVER.id.key: SERVER}, {}))
    return wanted | {"PASSWORDLESS_MANAGED_KEYS": ",".join(sorted(wanted))}


SETTLED = converged_settings("orders:writer", site())


@pytest.mark.parametrize(
    ("tag", "site_state", "database", "expected"),
    [
        pytest.param(
            "orders:writer",
            site(principal=None),
            empty_database(),
            [EnableSystemIdentity, CreatePrincipal, GrantPrivileges, SetAppSettings],
            id="new-app",
        ),
        pytest.param(
            "orders:writer",
            site(),
            DatabaseState(None, frozenset(), TABLES, "orders_owner"),
            [CreatePrincipal, GrantPrivileges, SetAppSettings],
            id="identity-on-principal-missing",
        ),
        pytest.param("orders:writer", site(settings=SETTLED), bound(grants=WRITER), [], id="converged"),
        pytest.param(
            "orders:writer",
            site(settings=SETTLED),
            bound("0ld", WRITER),
            [RebindPrincipal, GrantPrivileges],
            id="stale-binding",
        ),
        pytest.param(
            "orders:reader",
            site(settings=converged_settings("orders:reader", site())),
            bound(grants=WRITER),
            [RevokePrivileges],
            id="writer-down-to-reader",
        ),
        pytest.param(
            "orders:writer", site(settings=SETTLED), bound(grants=READER), [GrantPrivileges], id="reader-up-to-writer"
        ),
        pytest.param(
            "orders:writer",
            site(principal=None, settings=SETTLED),
            bound(grants=WRITER),
            [EnableSystemIdentity, RebindPrincipal, GrantPrivileges],
            id="identity-switched-off",
        ),
    ],
)
def test_plan_steps(tag: str, site_state: SiteState, database: DatabaseState, expected: list[type]) -> None:
    gone = {"0ld": (), OBJECT_ID: ()}  # earlier identities that no live resource holds any more
    result = plan(desired_for(tag), Observed(site_state, {SERVER.id.key: SERVER}, {"orders": database}, {}, gone))
    assert [type(step) for step in result.steps] == expected


def test_writer_to_reader_revokes_exactly_the_excess() -> None:
    result = plan(
        desired_for("orders:reader"),
        Observed(
            site(settings=converged_settings("orders:reader", site())),
            {SERVER.id.key: SERVER},
            {"orders": bound(grants=WRITER)},
        ),
    )
    (revoke,) = result.steps
    assert isinstance(revoke, RevokePrivileges)
    assert frozenset(revoke.grants) == WRITER - READER


def test_grants_outside_the_managed_scope_are_not_planned_for() -> None:
    # The engine reports only grants in scope; a grant in another schema is simply not part of the diff.
    state = bound(grants=WRITER)
    result = plan(
        desired_for("orders:writer"), Observed(site(settings=SETTLED), {SERVER.id.key: SERVER}, {"orders": state})
    )
    assert result.empty


def test_settings_merge_keeps_foreign_keys_and_removes_only_formerly_managed_ones() -> None:
    current = site(settings={"FOREIGN": "1", "PASSWORDLESS_MANAGED_KEYS": "OLD_KEY", "OLD_KEY": "x"})
    result = plan(
        desired_for("orders:writer"), Observed(current, {SERVER.id.key: SERVER}, {"orders": bound(grants=WRITER)})
    )
    (step,) = result.steps
    assert isinstance(step, SetAppSettings)
    assert step.remove == ("OLD_KEY",)
    assert "FOREIGN" not in dict(step.set)
    assert dict(step.set)["PASSWORDLESS_MANAGED_KEYS"] == "AZURE_POSTGRESQL_CONNECTIONSTRING"
    assert step.absent == ("AZURE_POSTGRESQL_CONNECTIONSTRING",)


def test_plan_data_is_printable_and_json_ready() -> None:
    result = plan(
        desired_for("orders:writer"),
        Observed(site(principal=None), {SERVER.id.key: SERVER}, {"orders": empty_database()}),
    )
    text = result.describe()
    assert "enable the system-assigned identity of shop-web" in text
    document = result.to_dict()
    assert document["steps"][0]["step"] == "EnableSystemIdentity"
