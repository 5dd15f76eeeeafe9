"""The planner's table of record: desired + observed -> the exact steps.

Each row names what is asked (a tag or a pipeline's request), what is observed (the site and each
target database), and the steps the planner must return, summarised as (step, target, detail):
the principal's binding, the privileges granted or revoked, the app settings written. Every engine,
system and user-assigned identities, two targets on one server, pipeline requests and removal.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from provisioning.audit import Drift, DriftKind, drift_of
from provisioning.catalog import catalog_from_document
from provisioning.engines.dialects import dialect_for
from provisioning.errors import Conflict, NotFound, PolicyViolation, PrincipalConflict
from provisioning.models import (
    AppRequest,
    Catalog,
    DatabaseState,
    Grant,
    IdentityHolder,
    PrincipalState,
    ServerInfo,
    SiteState,
    SkippedEntry,
    UserAssignedIdentity,
)
from provisioning.plan import (
    CreatePrincipal,
    DropPrincipal,
    GrantPrivileges,
    Plan,
    RebindPrincipal,
    RevokePrivileges,
    SetAppSettings,
    Step,
)
from provisioning.planner import Desired, Observed, plan, plan_removal
from provisioning.policy import authorize
from provisioning.requests import request_from_body, request_from_tags
from provisioning.resource_ids import parse_resource_id
from tests.factories import APP, OBJECT_ID, RG, SUB

CLIENT_ID = "c11e0000-0000-4000-8000-000000000001"  # the system identity's client id
UA_ID = f"/subscriptions/{SUB}/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/shop-id"
UA = UserAssignedIdentity("0a0b0000-0000-4000-8000-0000000000ua", "c1c10000-0000-4000-8000-0000000000ua")
CREATED_ID = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/new-id"
)
DATA = f"/subscriptions/{SUB}/resourceGroups/rg-data/providers"
PG, MYSQL, SQL = (
    f"{DATA}/Microsoft.DBforPostgreSQL/flexibleServers/pg-main",
    f"{DATA}/Microsoft.DBforMySQL/flexibleServers/mysql-main",
    f"{DATA}/Microsoft.Sql/servers/sql-main",
)
SERVERS = {
    rid.key: ServerInfo(rid, f"{rid.names[0]}.example", ())
    for rid in (parse_resource_id(PG), parse_resource_id(MYSQL), parse_resource_id(SQL))
}
SOURCES = [f"/subscriptions/{SUB}/resourceGroups/{RG}"]
TARGETS = [
    {"name": "orders", "engine": "postgres", "server": PG, "database": "orders"},
    {"name": "ledger", "engine": "postgres", "server": PG, "database": "ledger", "on_remove": "revoke"},
    {"name": "shop", "engine": "mysql", "server": MYSQL, "database": "shop"},
    {"name": "sales", "engine": "sql", "server": SQL, "database": "sales"},
    {"name": "archive", "engine": "sql", "server": SQL, "database": "archive"},
]
CATALOG: Catalog = catalog_from_document(
    {
        "targets": [t | {"roles": ["reader", "writer", "ddl"], "allowed_sources": SOURCES} for t in TARGETS],
        "identities": [{"id": UA_ID, "allowed_sources": SOURCES}],
    }
)
# Identities earlier principals were bound to that no live resource holds any more (deleted, or a
# system identity switched off): a principal bound to one of these may be rebound.
GONE: dict[str, tuple[IdentityHolder, ...]] = {"0ld": (), "c0ld": (), OBJECT_ID: ()}
NAMESAKE = IdentityHolder(f"/subscriptions/{SUB}/resourceGroups/rg-other/providers/Microsoft.Web/sites/shop-web")
OBJECTS = {"table": (("public", "orders"),), "sequence": (("public", "orders_id_seq"),)}
R, W = {"SELECT"}, {"SELECT", "INSERT", "UPDATE", "DELETE"}


def site_state(
    *,
    system: bool = True,
    attached: dict[str, UserAssignedIdentity] | None = None,
    settings: dict[str, str] | None = None,
) -> SiteState:
    return SiteState(
        app=APP,
        tags={},
        linux_fx_version="PYTHON|3.11",
        system_principal_id=OBJECT_ID if system else None,
        user_assigned=attached or {},
        app_settings=settings or {},
        system_client_id=CLIENT_ID if system else None,
        location="westeurope",
    )


def held(target: str, role: str, binding: str | None) -> DatabaseState:
    """A principal holding exactly what ``role`` expands to (``binding`` None: no principal)."""
    t = CATALOG.targets[target]
    state = DatabaseState(None, frozenset(), OBJECTS if t.engine.value == "postgres" else {}, "owner")
    grants = dialect_for(t.engine).expected_grants(t, CATALOG.profiles[role], state)
    return replace(state, principal=PrincipalState("shop-web", binding), grants=grants)


def nothing(target: str) -> DatabaseState:
    return DatabaseState(
        None, frozenset(), OBJECTS if CATALOG.targets[target].engine.value == "postgres" else {}, "owner"
    )


@dataclass(frozen=True)
class Row:
    id: str
    request: AppRequest
    site: SiteState
    databases: dict[str, DatabaseState]
    expected: list[tuple[Any, ...]]
    identities: dict[str, UserAssignedIdentity] = field(default_factory=dict)


def tagged(tag: str, identity: str | None = None) -> AppRequest:
    tags = {"passwordless": tag} | ({"passwordless-identity": identity} if identity else {})
    return request_from_tags(APP, tags)


def piped(connections: str) -> AppRequest:
    return request_from_body({"app": APP.id, "connections": connections})


def summary(step: Step) -> tuple[Any, ...]:
    if isinstance(step, CreatePrincipal | RebindPrincipal):
        return (type(step).__name__, step.target, step.binding)
    if isinstance(step, GrantPrivileges | RevokePrivileges):
        return (type(step).__name__, step.target, frozenset(g.privilege for g in step.grants))
    if isinstance(step, DropPrincipal):
        return ("DropPrincipal", step.target)
    if isinstance(step, SetAppSettings):
        return ("SetAppSettings", frozenset(key for key, _ in step.set), step.remove)
    return (type(step).__name__,)


def planned(
    request: AppRequest,
    site: SiteState,
    databases: dict[str, DatabaseState],
    identities: dict[str, UserAssignedIdentity] | None = None,
    holders: dict[str, tuple[IdentityHolder, ...]] | None = None,
) -> Plan:
    observed = Observed(site, SERVERS, databases, identities or {}, GONE if holders is None else holders)
    return plan(Desired(request, authorize(request, CATALOG)), observed)


def settled(request: AppRequest, site: SiteState, databases: dict[str, DatabaseState]) -> SiteState:
    """The site once its settings are what the request asks for."""
    step = planned(request, site, databases).steps[-1]
    assert isinstance(step, SetAppSettings)
    return replace(site, app_settings=site.app_settings | dict(step.set))


PG_CONVERGED = settled(tagged("orders:writer"), site_state(), {"orders": held("orders", "writer", OBJECT_ID)})
PG_KEYS = frozenset(
    {
        "AZURE_POSTGRESQL_CONNECTIONSTRING",
        "PASSWORDLESS_MANAGED_KEYS",
        "PASSWORDLESS_PLAIN_NAMES",
        "PASSWORDLESS_MANAGED_TARGETS",
    }
)
PG_SETTINGS = ("SetAppSettings", PG_KEYS, ())
MYSQL_KEYS = frozenset(
    {
        "AZURE_MYSQL_NAME",
        "AZURE_MYSQL_HOST",
        "AZURE_MYSQL_USER",
        "PASSWORDLESS_MANAGED_KEYS",
        "PASSWORDLESS_PLAIN_NAMES",
        "PASSWORDLESS_MANAGED_TARGETS",
    }
)
SQL_KEYS = {"AZURE_SQL_SERVER", "AZURE_SQL_PORT", "AZURE_SQL_DATABASE", "AZURE_SQL_AUTHENTICATION"}
BOOKKEEPING = {"PASSWORDLESS_MANAGED_KEYS", "PASSWORDLESS_PLAIN_NAMES", "PASSWORDLESS_MANAGED_TARGETS"}
ATTACHED = "PASSWORDLESS_ATTACHED_IDENTITIES"  # the user-assigned identities the provisioner attached
LEDGER_KEYS = {"AZURE_POSTGRESQL_LEDGER_CONNECTIONSTRING"}
ARCHIVE_KEYS = {key.replace("AZURE_SQL_", "AZURE_SQL_ARCHIVE_") for key in SQL_KEYS}


def rows() -> list[Row]:
    pg_new = {"orders": nothing("orders")}
    return [
        # -- PostgreSQL, system identity: the principal is bound to the object id ----------------
        Row(
            "pg-new-app",
            tagged("orders:writer"),
            site_state(system=False),
            pg_new,
            [
                ("EnableSystemIdentity",),
                ("CreatePrincipal", "orders", None),  # the id is known once the identity is on
                ("GrantPrivileges", "orders", frozenset(W | {"CONNECT", "USAGE"})),
                PG_SETTINGS,
            ],
        ),
        Row(
            "pg-identity-on-principal-missing",
            tagged("orders:writer"),
            site_state(),
            pg_new,
            [
                ("CreatePrincipal", "orders", OBJECT_ID),
                ("GrantPrivileges", "orders", frozenset(W | {"CONNECT", "USAGE"})),
                PG_SETTINGS,
            ],
        ),
        Row("pg-converged", tagged("orders:writer"), PG_CONVERGED, {"orders": held("orders", "writer", OBJECT_ID)}, []),
        Row(
            "pg-stale-binding",
            tagged("orders:writer"),
            PG_CONVERGED,
            {"orders": held("orders", "writer", "0ld")},
            [
                ("RebindPrincipal", "orders", OBJECT_ID),
                ("GrantPrivileges", "orders", frozenset(W | {"CONNECT", "USAGE"})),
            ],
        ),
        Row(
            "pg-writer-down-to-reader",
            tagged("orders:reader"),
            settled(tagged("orders:reader"), site_state(), {"orders": held("orders", "reader", OBJECT_ID)}),
            {"orders": held("orders", "writer", OBJECT_ID)},
            [("RevokePrivileges", "orders", frozenset({"INSERT", "UPDATE", "DELETE", "USAGE"}))],
        ),
        Row(
            "pg-reader-up-to-writer",
            tagged("orders:writer"),
            PG_CONVERGED,
            {"orders": held("orders", "reader", OBJECT_ID)},
            [("GrantPrivileges", "orders", frozenset({"INSERT", "UPDATE", "DELETE", "USAGE"}))],
        ),
        Row(
            "pg-identity-switched-off",
            tagged("orders:writer"),
            replace(PG_CONVERGED, system_principal_id=None, system_client_id=None),
            {"orders": held("orders", "writer", OBJECT_ID)},
            [
                ("EnableSystemIdentity",),
                ("RebindPrincipal", "orders", None),
                ("GrantPrivileges", "orders", frozenset(W | {"CONNECT", "USAGE"})),
            ],
        ),
        # -- MySQL: bound to the client id; grants on `db`.* -------------------------------------
        Row(
            "mysql-new-app",
            tagged("shop:ddl"),
            site_state(),
            {"shop": nothing("shop")},
            [
                ("CreatePrincipal", "shop", CLIENT_ID),
                ("GrantPrivileges", "shop", frozenset(W | {"CREATE", "ALTER", "INDEX", "REFERENCES"})),
                ("SetAppSettings", MYSQL_KEYS, ()),
            ],
        ),
        Row(
            "mysql-stale-binding",
            tagged("shop:reader"),
            settled(tagged("shop:reader"), site_state(), {"shop": held("shop", "reader", CLIENT_ID)}),
            {"shop": held("shop", "reader", "c0ld")},
            [("RebindPrincipal", "shop", CLIENT_ID), ("GrantPrivileges", "shop", frozenset(R))],
        ),
        # -- Azure SQL: bound to the client id; one principal per database -----------------------
        Row(
            "sql-new-app",
            tagged("sales:writer"),
            site_state(),
            {"sales": nothing("sales")},
            [
                ("CreatePrincipal", "sales", CLIENT_ID),
                ("GrantPrivileges", "sales", frozenset(W | {"CONNECT"})),
                ("SetAppSettings", frozenset(SQL_KEYS | BOOKKEEPING), ()),
            ],
        ),
        Row(
            "sql-writer-down-to-reader",
            tagged("sales:reader"),
            settled(tagged("sales:reader"), site_state(), {"sales": held("sales", "reader", CLIENT_ID)}),
            {"sales": held("sales", "writer", CLIENT_ID)},
            [("RevokePrivileges", "sales", frozenset({"INSERT", "UPDATE", "DELETE"}))],
        ),
        # -- two targets on one server -----------------------------------------------------------
        Row(
            "pg-two-databases-share-one-principal",
            tagged("orders:writer; ledger:reader"),
            site_state(),
            {"orders": nothing("orders"), "ledger": nothing("ledger")},
            [
                ("CreatePrincipal", "orders", OBJECT_ID),  # roles are server-wide: created once
                ("GrantPrivileges", "orders", frozenset(W | {"CONNECT", "USAGE"})),
                ("GrantPrivileges", "ledger", frozenset(R | {"CONNECT", "USAGE"})),
                ("SetAppSettings", PG_KEYS | LEDGER_KEYS, ()),
            ],
        ),
        Row(
            "sql-two-databases-two-principals",
            tagged("sales:reader; archive:reader"),
            site_state(),
            {"sales": nothing("sales"), "archive": nothing("archive")},
            [
                ("CreatePrincipal", "sales", CLIENT_ID),  # contained users: one per database
                ("CreatePrincipal", "archive", CLIENT_ID),
                ("GrantPrivileges", "sales", frozenset(R | {"CONNECT"})),
                ("GrantPrivileges", "archive", frozenset(R | {"CONNECT"})),
                ("SetAppSettings", frozenset(SQL_KEYS | ARCHIVE_KEYS | BOOKKEEPING), ()),
            ],
        ),
        # -- user-assigned identities ------------------------------------------------------------
        Row(
            "ua-attached-pg-binds-its-object-id",
            tagged("orders:reader", UA_ID),
            site_state(system=False, attached={UA_ID: UA}),
            pg_new,
            [
                ("CreatePrincipal", "orders", UA.principal_id),
                ("GrantPrivileges", "orders", frozenset(R | {"CONNECT", "USAGE"})),
                ("SetAppSettings", PG_KEYS | {"AZURE_POSTGRESQL_CLIENTID", ATTACHED}, ()),
            ],
        ),
        Row(
            "ua-existing-is-attached-mysql-binds-its-client-id",
            tagged("shop:reader", UA_ID),
            site_state(),
            {"shop": nothing("shop")},
            [
                ("AttachUserIdentity",),
                ("CreatePrincipal", "shop", UA.client_id),
                ("GrantPrivileges", "shop", frozenset(R)),
                ("SetAppSettings", MYSQL_KEYS | {"AZURE_MYSQL_CLIENTID", ATTACHED}, ()),
            ],
            {UA_ID.lower(): UA},
        ),
        Row(
            "ua-create-then-attach",
            tagged("sales:reader", "create:new-id"),
            site_state(system=False),
            {"sales": nothing("sales")},
            [
                ("CreateUserIdentity",),
                ("AttachUserIdentity",),
                ("CreatePrincipal", "sales", None),
                ("GrantPrivileges", "sales", frozenset(R | {"CONNECT"})),
                # AZURE_SQL_USER (the client id) follows: the applier plans again once the identity exists
                ("SetAppSettings", frozenset(SQL_KEYS | BOOKKEEPING | {ATTACHED}), ()),
            ],
        ),
        # -- pipeline requests: kept on the app, since no tag carries them ------------------------
        Row(
            "pipeline-new-app",
            piped("orders:reader"),
            site_state(),
            pg_new,
            [
                ("CreatePrincipal", "orders", OBJECT_ID),
                ("GrantPrivileges", "orders", frozenset(R | {"CONNECT", "USAGE"})),
                ("SetAppSettings", PG_KEYS | {"PASSWORDLESS_REQUEST"}, ()),
            ],
        ),
        Row(
            "pipeline-converged",
            piped("orders:reader"),
            settled(piped("orders:reader"), site_state(), {"orders": held("orders", "reader", OBJECT_ID)}),
            {"orders": held("orders", "reader", OBJECT_ID)},
            [],
        ),
    ]


@pytest.mark.parametrize("row", rows(), ids=lambda row: row.id)
def test_plan_table_of_record(row: Row) -> None:
    result = planned(row.request, row.site, row.databases, row.identities)
    assert [summary(step) for step in result.steps] == row.expected


OTHERS_ID = UserAssignedIdentity("0a0b0000-0000-4000-8000-0000000000cc", "c1c10000-0000-4000-8000-0000000000cc")


@pytest.mark.parametrize(
    ("request_", "database", "identities", "holders", "error"),
    [
        pytest.param(
            tagged("orders:writer"), held("orders", "writer", None), {}, GONE, Conflict, id="unbound-principal-kept"
        ),
        pytest.param(
            tagged("orders:writer"),
            held("orders", "writer", "0ld"),
            {},
            {"0ld": (NAMESAKE,)},
            PrincipalConflict,
            id="live-namesakes-principal-never-rebound",
        ),
        pytest.param(
            tagged("orders:writer"), held("orders", "writer", "0ld"), {}, {}, Conflict, id="unknown-holder-not-rebound"
        ),
        pytest.param(tagged("orders:writer", UA_ID), nothing("orders"), {}, GONE, NotFound, id="ua-missing"),
        pytest.param(
            tagged("orders:writer", "create:new-id"),
            nothing("orders"),
            {CREATED_ID.lower(): replace(OTHERS_ID, owner=NAMESAKE.resource_id)},
            GONE,
            PolicyViolation,
            id="create-never-adopts-another-apps-identity",
        ),
    ],
)
def test_plan_refusals(
    request_: AppRequest,
    database: DatabaseState,
    identities: dict[str, UserAssignedIdentity],
    holders: dict[str, tuple[IdentityHolder, ...]],
    error: type,
) -> None:
    with pytest.raises(error):
        planned(request_, site_state(), {"orders": database}, identities, holders)


def test_a_user_assigned_identity_the_catalog_does_not_offer_is_refused() -> None:
    other = UA_ID.replace("shop-id", "someone-elses-id")
    with pytest.raises(PolicyViolation, match="is not offered to app"):
        planned(tagged("orders:reader", other), site_state(), {"orders": nothing("orders")})


# -- removal (``on_remove: revoke`` targets): rows of (site, database, expected) ---------------------
LIVE = settled(tagged("ledger:reader"), site_state(), {"ledger": held("ledger", "reader", OBJECT_ID)})


MINE = (IdentityHolder(APP.id),)


@pytest.mark.parametrize(
    ("site", "database", "holders", "expected"),
    [
        pytest.param(
            None, held("ledger", "reader", OBJECT_ID), {OBJECT_ID: MINE}, [("DropPrincipal", "ledger")], id="deleted"
        ),
        pytest.param(
            None,
            held("ledger", "reader", OBJECT_ID),
            {OBJECT_ID: ()},
            [("DropPrincipal", "ledger")],
            id="deleted-identity-gone",
        ),
        pytest.param(
            None, held("ledger", "reader", OBJECT_ID), {OBJECT_ID: (NAMESAKE,)}, [], id="deleted-namesake-kept"
        ),
        pytest.param(None, held("ledger", "reader", OBJECT_ID), {}, [], id="deleted-holder-unknown-kept"),
        pytest.param(
            LIVE,
            held("ledger", "reader", OBJECT_ID),
            {},
            [("DropPrincipal", "ledger"), ("SetAppSettings", frozenset(), tuple(sorted(LIVE.app_settings)))],
            id="untagged-own-principal-and-settings",
        ),
        pytest.param(LIVE, held("ledger", "reader", "someone-else"), {}, [], id="untagged-namesake-kept"),
        pytest.param(
            LIVE, replace(held("ledger", "reader", OBJECT_ID), grants=frozenset()), {}, [], id="no-grants-in-scope"
        ),
        pytest.param(LIVE, nothing("ledger"), {}, [], id="no-principal"),
    ],
)
def test_removal_table_of_record(
    site: SiteState | None,
    database: DatabaseState,
    holders: dict[str, tuple[IdentityHolder, ...]],
    expected: list[tuple[Any, ...]],
) -> None:
    result = plan_removal(APP, site, [CATALOG.targets["ledger"]], {"ledger": database}, holders)
    assert [summary(step) for step in result.steps] == expected


# -- which target owns an engine's plain setting names ----------------------------------------------
TWO = {"orders": held("orders", "writer", OBJECT_ID), "ledger": held("ledger", "reader", OBJECT_ID)}
BOTH = settled(tagged("orders:writer; ledger:reader"), site_state(), TWO)


def test_reordering_the_tag_keeps_the_plain_names_where_they_are() -> None:
    assert BOTH.app_settings["PASSWORDLESS_PLAIN_NAMES"] == "postgres=orders"
    assert planned(tagged("ledger:reader; orders:writer"), BOTH, TWO).empty


def test_an_app_provisioned_before_owners_were_remembered_keeps_its_plain_names() -> None:
    before = replace(BOTH, app_settings={k: v for k, v in BOTH.app_settings.items() if k != "PASSWORDLESS_PLAIN_NAMES"})
    (step,) = planned(tagged("ledger:reader; orders:writer"), before, TWO).steps
    assert isinstance(step, SetAppSettings)
    assert dict(step.set) == {"PASSWORDLESS_PLAIN_NAMES": "postgres=orders"}  # only the memory is added
    assert step.plain_names_moved == ()


def test_the_plain_names_move_only_when_their_target_leaves_and_the_move_is_reported() -> None:
    ledger_only = {"ledger": held("ledger", "reader", OBJECT_ID)}
    (step,) = planned(tagged("ledger:reader"), BOTH, ledger_only).steps
    assert isinstance(step, SetAppSettings)
    (move,) = step.plain_names_moved
    assert (move.prefix, move.old_target, move.new_target) == ("AZURE_POSTGRESQL", "orders", "ledger")
    assert "the plain AZURE_POSTGRESQL_* names move from target orders to ledger" in step.description
    reported = drift_of(Plan(APP, (step,)), CATALOG)
    assert Drift(DriftKind.SETTING_CHANGED, move.description) in reported  # the audit says so
    assert "ledger" in dict(step.set)["AZURE_POSTGRESQL_CONNECTIONSTRING"]
    assert step.remove == ("AZURE_POSTGRESQL_LEDGER_CONNECTIONSTRING",)
    assert planned(
        tagged("ledger:reader"), replace(BOTH, app_settings=BOTH.app_settings | dict(step.set)), ledger_only
    ).empty


def test_plan_data_is_printable_and_json_ready() -> None:
    result = planned(tagged("orders:writer"), site_state(system=False), {"orders": nothing("orders")})
    assert "enable the system-assigned identity of shop-web" in result.describe()
    document = result.to_dict()
    assert document["steps"][0]["step"] == "EnableSystemIdentity"
    assert document["steps"][-1]["plain_names_moved"] == []


def test_settings_merge_keeps_foreign_keys_and_removes_only_formerly_managed_ones() -> None:
    current = replace(
        PG_CONVERGED,
        app_settings=PG_CONVERGED.app_settings
        | {"FOREIGN": "1", "OLD_KEY": "x", "PASSWORDLESS_MANAGED_KEYS": "AZURE_POSTGRESQL_CONNECTIONSTRING,OLD_KEY"},
    )
    (step,) = planned(tagged("orders:writer"), current, {"orders": held("orders", "writer", OBJECT_ID)}).steps
    assert isinstance(step, SetAppSettings)
    assert step.remove == ("OLD_KEY",)
    managed = "AZURE_POSTGRESQL_CONNECTIONSTRING,PASSWORDLESS_MANAGED_TARGETS,PASSWORDLESS_PLAIN_NAMES"
    assert dict(step.set) == {"PASSWORDLESS_MANAGED_KEYS": managed}


def test_grants_name_only_objects_in_the_targets_scope() -> None:
    (grant,) = [
        s
        for s in planned(tagged("orders:reader"), site_state(), {"orders": nothing("orders")}).steps
        if isinstance(s, GrantPrivileges)
    ]
    assert Grant("table", ("public", "orders"), "SELECT") in grant.grants
    assert {g.object_kind for g in grant.grants} == {
        "database",
        "schema",
        "table",
        "sequence",
        "default_table",
        "default_sequence",
    }


def test_a_hand_edited_memory_moves_nothing_silently() -> None:
    edited = replace(BOTH, app_settings=BOTH.app_settings | {"PASSWORDLESS_PLAIN_NAMES": "postgres=ledger"})
    (step,) = planned(tagged("orders:writer; ledger:reader"), edited, TWO).steps
    assert isinstance(step, SetAppSettings)
    assert [(m.old_target, m.new_target) for m in step.plain_names_moved] == [("orders", "ledger")]


def test_an_engines_plain_names_stay_with_their_skipped_owner_while_another_engine_converges() -> None:
    """The app's only PostgreSQL entry is skipped (the catalog stops offering its role), its MySQL one
    still converges: the plain names' owner is remembered, so nothing moves once the entry is back."""
    both_engines = {"orders": held("orders", "writer", OBJECT_ID), "shop": held("shop", "reader", CLIENT_ID)}
    site = settled(tagged("orders:writer; shop:reader"), site_state(), both_engines)
    assert site.app_settings["PASSWORDLESS_PLAIN_NAMES"] == "mysql=shop,postgres=orders"
    shop_only = tagged("shop:reader")
    skipped = (SkippedEntry("orders:writer", "role 'writer' is not offered on target 'orders'", True, "orders"),)
    desired = Desired(
        shop_only, authorize(shop_only, CATALOG), skipped=skipped, skipped_targets=(CATALOG.targets["orders"],)
    )
    assert plan(desired, Observed(site, SERVERS, {"shop": both_engines["shop"]})).empty
