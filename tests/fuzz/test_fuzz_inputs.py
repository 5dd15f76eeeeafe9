"""Fuzzing (PRODUCT.md §8, bad input): every parser of outside input either accepts the input, giving a
value that obeys its grammar and round-trips, or refuses it with ``InvalidRequest`` naming the field;
no other exception ever escapes. And the planner: deterministic, and converged after one apply.

Inputs are built from real shapes (valid tags, bodies, catalog documents, Event Grid samples) and then
mutated, plus arbitrary text and JSON. Pure and fast: no service is touched.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.azure.events import OBJECT_ID_CLAIM, Ignored, SiteEvent, interpret
from provisioning.catalog import BUILTIN_PROFILES, SERVER_TYPES, TARGET_NAME, catalog_from_document, parse_catalog
from provisioning.engines.dialects import dialect_for
from provisioning.errors import Conflict, InvalidRequest
from provisioning.models import (
    Administrator,
    DatabaseState,
    Grant,
    IdentityKind,
    PrincipalState,
    RoleProfile,
    ServerInfo,
    SiteState,
    Target,
)
from provisioning.plan import (
    IDENTITY_STEPS,
    CreatePrincipal,
    EnableSystemIdentity,
    GrantPrivileges,
    Plan,
    RebindPrincipal,
    RevokePrivileges,
    SetAppSettings,
)
from provisioning.planner import MANAGED_TARGETS_SETTING, Desired, Observed, desired_settings, plain_name_owners, plan
from provisioning.policy import authorize
from provisioning.reconciler import Mode, ReconcileResult
from provisioning.requests import (
    NAME,
    request_from_body,
    request_from_setting,
    request_from_tags,
    request_to_setting,
)
from provisioning.resource_ids import AppRef, parse_app_id, parse_resource_id
from provisioning.settings import MANAGED_KEYS_SETTING, PLAIN_NAMES_SETTING, format_plain_owners, parse_managed_keys
from triggers.http import handle_connection_request
from triggers.problems import PROBLEM

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

SUB = "00000000-0000-0000-0000-000000000001"
APP = AppRef(SUB, "rg-apps", "shop-web")
SLOT_ID = f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/shop-web/slots/staging"
IDENTITY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1"
)
SERVER_ID = f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-orders"

# -- strategies ------------------------------------------------------------------------------------
# Characters that matter to these grammars, and a few that test unicode handling.
SPECIAL = [*":;/%, \t\n\r\x00'\"`]\\", "\u00a0", "\u2028", "é", "ǅ", "İ", "\u212a", "ß", "💥", "%2F", "%25"]
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[str]) -> str:
    """A valid example with a few edits: characters inserted, deleted or replaced, pieces repeated."""
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "delete", "replace", "repeat", "case"]))
        piece = draw(st.sampled_from(SPECIAL) | st.text(min_size=1, max_size=3))
        if edit == "insert":
            text = text[:at] + piece + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif edit == "replace":
            text = text[:at] + piece + text[at + len(piece) :]
        elif edit == "repeat":
            text = text[:at] + text[at : at + draw(st.integers(1, 12))] + text[at:]
        else:
            text = text[:at] + text[at:].swapcase()
    return text


def fuzzed(seeds: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(seeds) | mutated(seeds) | st.text(max_size=40)


CONNECTIONS = ["orders:writer", "orders:reader; ledger:writer", "Orders : Reader ;", "a-b_c:x1; B:y", "t" * 64 + ":r"]
IDENTITIES = ["system", "SYSTEM", "create:my-identity", "create: abc_123 ", IDENTITY_ID, IDENTITY_ID.upper(), ""]
CLIENTS = ["python", "Django", " dotnet ", "springBoot", "go", ""]
APP_IDS = [APP.id, APP.id.lower(), SLOT_ID, SLOT_ID.upper() + "/", "/" + APP.id.strip("/") + "/", IDENTITY_ID]


@st.composite
def tag_sets(draw: st.DrawFn) -> dict[str, str]:
    tags = {draw(st.sampled_from(["passwordless", "Passwordless", "PASSWORDLESS"])): draw(fuzzed(CONNECTIONS))}
    if draw(st.booleans()):
        tags["passwordless-identity"] = draw(fuzzed(IDENTITIES))
    if draw(st.booleans()):
        tags["Passwordless-Client"] = draw(fuzzed(CLIENTS))
    if draw(st.booleans()):
        tags[draw(st.text(max_size=10))] = draw(st.text(max_size=10))  # unrelated tags
    return tags


# -- tags ------------------------------------------------------------------------------------------
def assert_valid_request(request: Any) -> None:
    """What every accepted request obeys, whatever it came from."""
    assert request.connections
    targets = [c.target for c in request.connections]
    assert len(set(targets)) == len(targets)
    for connection in request.connections:
        for name in (connection.target, connection.role):
            assert NAME.fullmatch(name) and name == name.lower(), connection
    identity = request.identity
    if identity.kind is IdentityKind.USER:
        assert identity.resource_id is not None
        rid = parse_resource_id(identity.resource_id)
        assert rid.full_type == "microsoft.managedidentity/userassignedidentities"
    if identity.kind is IdentityKind.CREATE:
        assert identity.name and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{2,127}", identity.name)


def assert_round_trips(request: Any) -> None:
    """A request kept on the app (``PASSWORDLESS_REQUEST``) reads back as the same request."""
    kept = request_to_setting(request)
    again = request_from_setting(request.app, kept)
    assert (again.app, again.connections, again.identity, again.client) == (
        request.app,
        request.connections,
        request.identity,
        request.client,
    )
    assert again.from_pipeline and request_to_setting(again) == kept


@FUZZ
@given(tags=tag_sets())
def test_tags_parse_to_a_valid_request_or_a_named_invalid_request(tags: dict[str, str]) -> None:
    try:
        request = request_from_tags(APP, tags)
    except InvalidRequest as exc:
        assert exc.field in ("tags.passwordless", "tags.passwordless-identity", "tags.passwordless-client")
        assert str(exc).startswith(exc.field)
        return
    assert_valid_request(request)
    for skipped in request.skipped:  # a malformed entry is named by its tag and left out
        assert skipped.reason.startswith("tags.passwordless: entry ") and not skipped.denied
    # The connections, written back as a tag, parse to the same request without the skipped entries.
    rewritten = "; ".join(f"{c.target}:{c.role}" for c in request.connections)
    again = request_from_tags(APP, {**tags, next(k for k in tags if k.lower() == "passwordless"): rewritten})
    assert again == replace(request, skipped=())
    assert_round_trips(request)


# -- HTTP bodies -----------------------------------------------------------------------------------
@st.composite
def bodies(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 4)) == 0:
        return draw(JSON_VALUES)
    body: dict[str, Any] = {"app": draw(fuzzed(APP_IDS))}
    connections = draw(fuzzed(CONNECTIONS))
    body["connections"] = draw(st.sampled_from([connections, connections.split(";"), [connections]]))
    for key, seeds in (("identity", IDENTITIES), ("client", CLIENTS)):
        if draw(st.booleans()):
            body[key] = draw(fuzzed(seeds))
    for _ in range(draw(st.integers(0, 2))):  # a field replaced by any JSON, dropped, or one added
        key = draw(st.sampled_from(["app", "connections", "identity", "client", "extra"]))
        if draw(st.booleans()):
            body[key] = draw(JSON_VALUES)
        else:
            body.pop(key, None)
    return body


@FUZZ
@given(body=bodies())
def test_bodies_parse_to_a_valid_request_or_a_named_invalid_request(body: Any) -> None:
    try:
        request = request_from_body(body)
    except InvalidRequest as exc:
        assert exc.field in ("body", "app", "connections", "identity", "client")
        assert str(exc).startswith(exc.field)
        return
    assert request.from_pipeline and request.app == parse_app_id(body["app"])
    assert_valid_request(request)
    assert_round_trips(request)


class PlanningRuntime:
    """Just enough of a runtime for the plan route: the reconciler plans nothing and records the request."""

    def __init__(self) -> None:
        self.config = SimpleNamespace(apply_role="")
        self.seen: list[Any] = []
        self.reconciler = SimpleNamespace(reconcile_request=self.reconcile_request)

    def reconcile_request(self, request: Any, mode: Mode) -> ReconcileResult:
        self.seen.append(request)
        return ReconcileResult(request.app, mode, Plan(request.app), applied=False, seconds=0.0)


RAW_BODIES = (
    st.binary(max_size=60)
    | st.text(max_size=60).map(str.encode)
    | JSON_VALUES.map(lambda value: json.dumps(value).encode())
    | bodies().map(lambda value: json.dumps(value).encode())
)


@FUZZ
@given(raw=RAW_BODIES)
def test_the_plan_route_answers_every_body_with_200_or_a_4xx_problem(raw: bytes) -> None:
    runtime = PlanningRuntime()
    request = func.HttpRequest("POST", "http://localhost/api/connections/plan", body=raw, headers={})
    response = handle_connection_request(request, Mode.PLAN, lambda: runtime)
    document = json.loads(response.get_body())
    if response.status_code == 200:
        assert len(runtime.seen) == 1 and document["app"] == runtime.seen[0].app.id
        return
    assert response.status_code in (400, 422), document
    assert response.mimetype == PROBLEM and document["status"] == response.status_code
    assert document["title"] and document["detail"] and runtime.seen == []
    assert response.status_code == 400 or document["field"]


# -- catalog documents -----------------------------------------------------------------------------
VALID_CATALOG: dict[str, Any] = {
    "profiles": {"auditor": ["SELECT"], "loader": ["insert", "Update"]},
    "admin_group": {"object_id": "0A0B0000-0000-4000-8000-000000000001", "name": "pg-admins"},
    "targets": [
        {
            "name": "orders",
            "engine": "postgres",
            "server": SERVER_ID,
            "database": "orders",
            "schemas": ["public", "sales"],
            "roles": ["reader", "writer", "auditor"],
            "allowed_sources": [f"/subscriptions/{SUB}/resourceGroups/rg-apps"],
            "tls": "disable",
            "on_remove": "revoke",
            "owner_role": "orders_owner",
        },
        {
            "name": "sales",
            "engine": "sql",
            "server": f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-sales",
            "database": "sales",
            "roles": ["reader", "ddl"],
            "allowed_sources": [f"/subscriptions/{SUB}"],
            "sql_binding": "object_id",
        },
        {
            "name": "shop-mysql",
            "engine": "mysql",
            "server": f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.DBforMySQL/flexibleServers/my",
            "database": "shop",
            "roles": ["loader"],
            "allowed_sources": [f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/shop"],
        },
    ],
}


@st.composite
def catalog_documents(draw: st.DrawFn) -> Any:
    """The valid catalog with a few edits anywhere in it: a value replaced (by any JSON, or a mutated
    string), a key dropped, an unknown key added, a list item dropped or duplicated."""
    if draw(st.integers(0, 5)) == 0:
        return draw(JSON_VALUES)
    document: Any = copy.deepcopy(VALID_CATALOG)
    for _ in range(draw(st.integers(1, 4))):
        holder, key = document, None
        for _depth in range(draw(st.integers(0, 4))):  # walk down to a random spot
            if isinstance(holder, dict) and holder:
                key = draw(st.sampled_from(sorted(holder)))
            elif isinstance(holder, list) and holder:
                key = draw(st.integers(0, len(holder) - 1))
            else:
                break
            if not isinstance(holder[key], (dict, list)):
                break
            holder, key = holder[key], None
        edit = draw(st.sampled_from(["replace", "mutate", "drop", "add", "duplicate"]))
        if key is None and isinstance(holder, dict) and holder:
            key = draw(st.sampled_from(sorted(holder)))
        if key is None and isinstance(holder, list) and holder:
            key = draw(st.integers(0, len(holder) - 1))
        if key is None:
            continue
        if edit == "replace":
            holder[key] = draw(JSON_VALUES)
        elif edit == "mutate" and isinstance(holder[key], str):
            holder[key] = draw(mutated([holder[key]]))
        elif edit == "drop":
            del holder[key]
        elif edit == "add" and isinstance(holder, dict):
            holder[draw(st.sampled_from(["extra", "Name", "roles ", ""]))] = draw(JSON_VALUES)
        elif edit == "duplicate" and isinstance(holder, list):
            holder.append(copy.deepcopy(holder[key]))
    return document


@FUZZ
@given(document=catalog_documents())
def test_catalog_documents_load_or_give_a_named_invalid_request(document: Any) -> None:
    try:
        catalog = catalog_from_document(document)
    except InvalidRequest as exc:
        assert exc.field and exc.field.startswith("catalog") and str(exc).startswith(exc.field.split("[")[0])
        return
    assert catalog.targets and set(BUILTIN_PROFILES) <= set(catalog.profiles)
    for name, target in catalog.targets.items():
        assert name == target.name and TARGET_NAME.fullmatch(name)
        assert target.server.full_type == SERVER_TYPES[target.engine] and len(target.server.names) == 1
        assert target.roles and target.roles <= set(catalog.profiles)
        assert target.allowed_sources and all(s.lower().startswith("/subscriptions/") for s in target.allowed_sources)
        assert target.database and target.database == target.database.strip()
    assert catalog_from_document(document) == catalog  # deterministic, and the document is not consumed


@pytest.mark.parametrize(
    "text",
    [
        f"targets:\n  - name: orders\n    engine: postgres\n    server: {SERVER_ID}\non: push\nextra: 1\n",
        "targets:\n  - name: orders\n    1: one\n    yes: true\n",
    ],
)
def test_a_yaml_catalog_with_non_string_keys_gives_invalid_request(text: str) -> None:
    """YAML 1.1 reads ``on:`` and ``yes:`` as booleans and ``1:`` as an int; listing such unknown keys
    next to string ones once raised TypeError from sorted() instead of InvalidRequest."""
    with pytest.raises(InvalidRequest, match="unknown"):
        parse_catalog(text)


# -- Event Grid events -----------------------------------------------------------------------------
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "eventgrid"
OWN = "5f0c1a7e-0000-4000-8000-00000000f001"


def sample_events() -> list[dict[str, Any]]:
    events = []
    for path in sorted(SAMPLES.glob("*.json")):
        text = path.read_text(encoding="utf-8").replace("{subscription-id}", SUB).replace("{resource-group}", "rg")
        event = json.loads(text)
        for resource in (
            APP.id,
            SLOT_ID + "/config/appsettings",
            APP.id + "/providers/Microsoft.Resources/tags/default",
        ):
            shaped = copy.deepcopy(event)
            shaped["data"]["resourceUri"] = resource
            shaped["subject"] = resource
            events.append(shaped)
    return events


SAMPLE_EVENTS = sample_events()
TEXT_FIELDS = ["id", "eventType", "type", "subject", "eventTime", "time"]
DATA_FIELDS = ["resourceUri", "subscriptionId", "claims", "operationName", "status"]


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(SAMPLE_EVENTS)))
    if draw(st.booleans()):
        event["data"]["claims"][OBJECT_ID_CLAIM] = draw(st.sampled_from([OWN, OWN.upper(), "someone-else"]))
    for _ in range(draw(st.integers(0, 4))):
        where, fields = draw(st.sampled_from([(event, TEXT_FIELDS), (event.get("data"), DATA_FIELDS)]))
        if not isinstance(where, dict):
            where = event
        field = draw(st.sampled_from(fields))
        value = where.get(field)
        edit = draw(st.sampled_from(["mutate", "replace", "drop", "datetime"]))
        if edit == "mutate" and isinstance(value, str):
            where[field] = draw(mutated([value]))
        elif edit == "replace":
            where[field] = draw(JSON_VALUES)
        elif edit == "drop":
            where.pop(field, None)
        elif edit == "datetime":  # what the Functions runtime passes as eventTime
            where[field] = draw(st.datetimes(timezones=st.none() | st.just(UTC)))
    if draw(st.integers(0, 9)) == 0:
        event["data"] = draw(JSON_VALUES)
    return event


@FUZZ
@given(event=events(), allow_list=st.sampled_from([(), (SUB,), ("another",)]))
def test_events_name_an_app_or_are_ignored_or_invalid(event: dict[str, Any], allow_list: tuple[str, ...]) -> None:
    try:
        seen = interpret(event, own_object_id=OWN, subscriptions=allow_list)
    except InvalidRequest as exc:
        assert exc.field is not None and exc.field.startswith("event")
        return
    assert isinstance(seen, (SiteEvent, Ignored))
    if isinstance(seen, Ignored):
        assert seen.reason
        return
    data = event["data"]
    claims = data.get("claims") if isinstance(data.get("claims"), dict) else {}
    assert str(claims.get(OBJECT_ID_CLAIM) or claims.get("oid") or "").lower() != OWN  # own writes never loop
    assert not allow_list or seen.app.subscription.lower() in allow_list  # the app's own, whatever else is said
    assert seen.event_time is None or seen.event_time.tzinfo is not None
    resource = str(data.get("resourceUri") or event.get("subject"))
    assert resource.strip("/").lower().startswith(seen.app.id.strip("/").lower())
    assert parse_app_id(seen.app.id) == seen.app


def test_an_app_outside_the_allowed_subscriptions_is_ignored_whatever_subscription_id_says() -> None:
    """Found by the fuzzer above: the allow-list once judged data.subscriptionId, not the app acted on."""
    event = copy.deepcopy(SAMPLE_EVENTS[0])
    event["data"]["resourceUri"] = event["subject"] = APP.id.replace(SUB, "99999999-0000-0000-0000-000000000009")
    event["data"]["subscriptionId"] = SUB
    assert isinstance(interpret(event, own_object_id=OWN, subscriptions=(SUB,)), Ignored)


# -- ARM resource ids ------------------------------------------------------------------------------
@FUZZ
@given(value=fuzzed(APP_IDS))
def test_app_ids_parse_to_a_site_or_slot_that_round_trips(value: str) -> None:
    try:
        app = parse_app_id(value, field="app")
    except InvalidRequest as exc:
        assert exc.field == "app" and str(exc).startswith("app ")
        return
    assert app.key == app.id.lower()
    assert all(part for part in (app.subscription, app.resource_group, app.site))
    assert parse_app_id(app.id) == app
    if app.id.isascii():  # ARM compares ids case-insensitively; unicode upper-casing is not that
        assert parse_app_id(app.id.upper()).key == app.key
    assert all("/" not in part and part == part.strip() for part in (app.subscription, app.resource_group, app.site))


@pytest.mark.parametrize(
    "value",
    [
        APP.id.replace("shop-web", "shop%2Fweb"),
        APP.id.replace("shop-web", "shop%252Fweb"),
        APP.id + " /",
        APP.id.replace("/rg-apps/", "/ rg-apps/"),
    ],
)
def test_ids_that_once_decoded_or_kept_blanks_are_refused_or_round_trip(value: str) -> None:
    """Found by the fuzzer above: segments were percent-decoded ('a%2Fb' became a name holding '/') and
    kept blanks before a '/', so the canonical id written back parsed to another resource, or none."""
    try:
        app = parse_app_id(value)
    except InvalidRequest:
        return
    assert parse_app_id(app.id) == app and app.id == value.strip().rstrip("/")


# -- the planner -----------------------------------------------------------------------------------
OBJECT_ID = "0b1d0000-0000-4000-8000-000000000001"
OTHER_ID = "0b1d0000-0000-4000-8000-0000000000ff"
NEW_ID = "0b1d0000-0000-4000-8000-00000000abcd"
PLANNER_CATALOG = catalog_from_document(
    {
        "targets": [
            {
                "name": name,
                "engine": "postgres",
                "server": SERVER_ID,
                "database": name,
                "roles": ["reader", "writer", "ddl"],
                "allowed_sources": [f"/subscriptions/{SUB}/resourceGroups/rg-apps"],
                "tls": "disable",
            }
            for name in ("orders", "ledger")
        ]
    }
)
SERVER = ServerInfo(parse_resource_id(SERVER_ID), "pg.example", (Administrator("f", "passwordless-func"),))
TABLES = (("public", "orders"), ("public", "items"), ("sales", "hidden"))
SEQUENCES = (("public", "orders_id_seq"),)
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "USAGE", "CREATE", "CONNECT")
REQUESTS = ["orders:reader", "orders:writer", "ledger:ddl", "orders:reader; ledger:writer", "ledger:ddl; orders:ddl"]
FOREIGN_KEYS = ["FOREIGN", "EXISTING", "OLD_KEY"]


def grant_pool(database: str) -> list[Grant]:
    """Grants a principal may hold in one database: those the profiles want, and excess ones."""
    pool = [Grant("database", (database,), p) for p in ("CONNECT", "CREATE", "TEMPORARY")]
    pool += [Grant("schema", ("public",), p) for p in ("USAGE", "CREATE")]
    pool += [Grant("table", name, p) for name in TABLES for p in PRIVILEGES[:5]]
    pool += [Grant("sequence", name, p) for name in SEQUENCES for p in ("SELECT", "USAGE", "UPDATE")]
    pool += [
        Grant(kind, ("orders_owner", "public"), p)
        for kind in ("default_table", "default_sequence")
        for p in PRIVILEGES[:6]
    ]
    return pool


@st.composite
def planner_inputs(draw: st.DrawFn) -> tuple[Desired, Observed]:
    """A converged state (system identity on, principal bound to it, exactly the wanted grants, the
    settings written), then a few drifts: identity off, principal missing or bound elsewhere or to
    nothing, grants toggled, tables created or dropped, settings edited, dropped or added."""
    tags = {"passwordless": draw(st.sampled_from(REQUESTS))}
    if draw(st.booleans()):
        tags["passwordless-client"] = draw(st.sampled_from(["python", "django", "dotnet", "java", "nodejs"]))
    request = request_from_tags(APP, tags)
    desired = Desired(request, authorize(request, PLANNER_CATALOG))
    profiles = {c.target.name: (c.target, c.profile) for c in desired.connections}
    site = SiteState(APP, tags, "PYTHON|3.12", OBJECT_ID, {}, {})
    empty = Observed(site, {SERVER.id.key: SERVER}, {})
    wanted = desired_settings(desired, empty)
    wanted[PLAIN_NAMES_SETTING] = format_plain_owners(plain_name_owners(desired, empty))
    wanted[MANAGED_TARGETS_SETTING] = ",".join(sorted(profiles))
    settings = wanted | {MANAGED_KEYS_SETTING: ",".join(sorted(wanted)), "FOREIGN": "keep"}
    principal: PrincipalState | None = PrincipalState("shop-web", OBJECT_ID)
    objects = {name: {"table": TABLES[:2], "sequence": SEQUENCES} for name in ("orders", "ledger")}
    owners = dict.fromkeys(("orders", "ledger"), "orders_owner")
    grants = {
        name: set(_expected(*profiles[name], DatabaseState(None, frozenset(), objects[name], owners[name])))
        if name in profiles
        else set()
        for name in ("orders", "ledger")
    }
    for _ in range(draw(st.integers(0, 4))):
        drift = draw(st.sampled_from(["identity", "principal", "grant", "objects", "owner", "setting"]))
        name = draw(st.sampled_from(("orders", "ledger")))
        if drift == "identity":
            site = replace(site, system_principal_id=None)
        elif drift == "principal":
            binding = draw(st.sampled_from(["absent", OTHER_ID, None]))
            principal = None if binding == "absent" else PrincipalState("shop-web", binding)
        elif drift == "grant":
            grants[name] ^= {draw(st.sampled_from(grant_pool(name) + sorted(grants[name])))}
        elif drift == "objects":
            objects[name] = {"table": tuple(t for t in TABLES if draw(st.booleans())), "sequence": SEQUENCES}
        elif drift == "owner":
            owners[name] = draw(st.sampled_from(["orders_owner", None]))
        else:
            key = draw(st.sampled_from([*FOREIGN_KEYS, *sorted(settings), MANAGED_KEYS_SETTING]))
            if draw(st.booleans()):
                settings[key] = draw(st.text(max_size=8) | st.sampled_from(["OLD_KEY", "OLD_KEY,FOREIGN", ""]))
            else:
                settings.pop(key, None)
    databases = {
        name: DatabaseState(
            principal, frozenset(grants[name]) if principal else frozenset(), objects[name], owners[name]
        )
        for name in ("orders", "ledger")
    }
    gone = {OTHER_ID: (), OBJECT_ID: ()}  # the identities a drifted principal may be bound to are gone
    return desired, Observed(replace(site, app_settings=settings), {SERVER.id.key: SERVER}, databases, {}, gone)


def reordered(observed: Observed) -> Observed:
    """The same state, built in another order: dictionaries and sets filled back to front."""
    site = replace(observed.site, app_settings=dict(reversed(list(observed.site.app_settings.items()))))
    databases = {
        name: replace(state, grants=frozenset(reversed(sorted(state.grants))))
        for name, state in reversed(list(observed.databases.items()))
    }
    return replace(observed, site=site, databases=databases)


def simulate(desired: Desired, observed: Observed) -> Observed:
    """Apply a plan to the observed model as the reconciler does: identity steps, re-plan, the rest."""
    first = plan(desired, observed)
    site = observed.site
    for step in first.steps:
        if isinstance(step, IDENTITY_STEPS):
            assert isinstance(step, EnableSystemIdentity) and site.system_principal_id is None
            site = replace(site, system_principal_id=NEW_ID)
    current = plan(desired, replace(observed, site=site)) if site is not observed.site else first
    principal = next(iter(observed.databases.values())).principal
    grants = {name: set(state.grants) for name, state in observed.databases.items()}
    settings = dict(site.app_settings)
    for step in current.steps:
        assert not isinstance(step, IDENTITY_STEPS), step
        if isinstance(step, (CreatePrincipal, RebindPrincipal)):
            assert step.binding == (site.system_principal_id or "").lower() and step.binding
            assert isinstance(step, RebindPrincipal) or principal is None
            principal = PrincipalState(step.principal, step.binding)
            grants = {name: set() for name in grants}  # a new role holds nothing, in any database
        elif isinstance(step, GrantPrivileges):
            assert not grants[step.target] & set(step.grants)
            grants[step.target] |= set(step.grants)
        elif isinstance(step, RevokePrivileges):
            assert set(step.grants) <= grants[step.target]
            grants[step.target] -= set(step.grants)
        else:
            assert isinstance(step, SetAppSettings)
            settings = {k: v for k, v in settings.items() if k not in step.remove} | dict(step.set)
    databases = {
        name: replace(state, principal=principal, grants=frozenset(grants[name]))
        for name, state in observed.databases.items()
    }
    return replace(observed, site=replace(site, app_settings=settings), databases=databases)


@FUZZ
@given(inputs=planner_inputs())
def test_the_plan_is_deterministic_and_one_apply_converges(inputs: tuple[Desired, Observed]) -> None:
    desired, observed = inputs
    try:
        first = plan(desired, observed)
    except Conflict:  # a principal of that name bound to no identity: never taken over
        assert next(iter(observed.databases.values())).principal.binding is None  # type: ignore[union-attr]
        return
    assert plan(desired, reordered(observed)) == first
    after = simulate(desired, observed)
    assert plan(desired, after).empty, plan(desired, after).describe()
    # Nothing unrelated is lost: a setting the provisioner never managed keeps its value.
    # The provisioner's own bookkeeping settings are its own whatever the managed list says.
    managed = parse_managed_keys(observed.site.app_settings.get(MANAGED_KEYS_SETTING))
    managed |= {MANAGED_KEYS_SETTING, PLAIN_NAMES_SETTING, MANAGED_TARGETS_SETTING}
    wanted = desired_settings(desired, after)
    for key, value in observed.site.app_settings.items():
        if key not in managed and key not in wanted:
            assert after.site.app_settings.get(key) == value, key


def outcome_of(call: Any) -> str:
    try:
        value = call()
    except (InvalidRequest, Conflict) as exc:
        return type(exc).__name__
    return type(value).__name__


def plan_outcome(desired: Desired, observed: Observed) -> str:
    """``Conflict``, ``empty``, or the kinds of step planned, space-separated."""
    try:
        planned = plan(desired, observed)
    except Conflict:
        return "Conflict"
    return " ".join(sorted({type(step).__name__ for step in planned.steps})) or "empty"


PROBES = {
    "tags": (
        tag_sets(),
        lambda tags: outcome_of(lambda: request_from_tags(APP, tags)),
        {"AppRequest", "InvalidRequest"},
    ),
    "bodies": (bodies(), lambda body: outcome_of(lambda: request_from_body(body)), {"AppRequest", "InvalidRequest"}),
    "catalogs": (
        catalog_documents(),
        lambda document: outcome_of(lambda: catalog_from_document(document)),
        {"Catalog", "InvalidRequest"},
    ),
    "events": (
        events(),
        lambda event: outcome_of(lambda: interpret(event, own_object_id=OWN, subscriptions=(SUB,))),
        {"SiteEvent", "Ignored", "InvalidRequest"},
    ),
    "plans": (planner_inputs(), lambda inputs: plan_outcome(*inputs), None),
}
PLAN_OUTCOMES = {"Conflict", "empty", "EnableSystemIdentity", "CreatePrincipal", "RebindPrincipal"}
PLAN_OUTCOMES |= {"GrantPrivileges", "RevokePrivileges", "SetAppSettings"}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_the_fuzzers_reach_every_outcome(name: str) -> None:
    """Guard against strategies that only ever produce garbage, or only valid input."""
    strategy, outcome, expected = PROBES[name]
    seen: set[str] = set()

    @settings(max_examples=150, deadline=None, database=None)
    @given(value=strategy)
    def probe(value: Any) -> None:
        seen.update(outcome(value).split())

    probe()
    assert seen >= (expected or PLAN_OUTCOMES), seen


def _expected(target: Target, profile: RoleProfile, state: DatabaseState) -> frozenset[Grant]:
    return dialect_for(target.engine).expected_grants(target, profile, state)
