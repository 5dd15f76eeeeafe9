"""A stateful model of one app's life, and the invariants that must hold after every reconcile.

The machine changes the world the way people do (tags, identities, deletes, migrations, DBAs, the
platform team's catalog); the product reacts only through its real entry points (``world.py``); and
after every step the model's own expectation (``expected.py``) is compared with what the database
servers and ARM hold.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.resource_ids import AppRef, parse_app_id
from tests.estates import APPS_GROUP, STORAGE, SUBSCRIPTION
from tests.model.expected import BLOB_ROLES, BLOB_WRITERS, PROFILES
from tests.model.world import RBAC_ROLES, RBAC_TARGETS, RbacSpec, TargetSpec, World

ROLES = sorted(PROFILES)
DATABASES = ["orders", "ledger"]  # every engine's world offers these two: orders (report), ledger (revoke)
CONTAINERS = [spec.name for spec in RBAC_TARGETS]  # and two blob containers, through Azure RBAC
TARGETS = DATABASES + CONTAINERS
REQUESTS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(DATABASES), st.sampled_from(ROLES)),
        st.tuples(st.sampled_from(CONTAINERS), st.sampled_from(RBAC_ROLES)),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda e: e[0],
).map(dict)
SOMEONE_ELSE = "0dd00000-0000-4000-8000-0000000b0b01"  # another team's identity, for assignments by hand
CATALOG_CHANGES = [(action, target) for action in ("remove", "unoffer-role") for target in TARGETS] + [("restore", "")]
CLIENTS = [None, "python", "django", "dotnet", "java", "nodejs"]
UNRELATED = {"UNRELATED_FLAG": "on", "WEBSITE_TIME_ZONE": "UTC"}
BOOKKEEPING_PREFIX = "PASSWORDLESS_"
MANAGED_KEYS = "PASSWORDLESS_MANAGED_KEYS"

# Parts of histories that do not converge on main yet, by engine: switched off unless
# MODEL_KNOWN_DEFECTS=1. Each names the defect and its minimal history is in the project notes.
KNOWN_DEFECTS: dict[str, dict[str, str]] = {
    "postgres": {},
    "mysql": {},
    "sql": {},
}


def defects_on() -> bool:
    return os.environ.get("MODEL_KNOWN_DEFECTS", "") == "1"


@dataclass
class AppModel:
    """What the people around the app did, and what that should mean for each target database."""

    name: str
    exists: bool = False
    tag: dict[str, str] | None = None  # target -> role, in tag order; None: no request tag
    identity: str = "system"  # system | create
    client: str | None = None
    unrelated: dict[str, str] = field(default_factory=lambda: dict(UNRELATED))
    tables: list[tuple[str, str]] = field(default_factory=list)  # (target, table) the app created
    identity_left_attached: bool = False  # the product attached one; switching away never detaches it
    # target -> (grants or role assignments the product must leave alone, exactly as they are (an entry
    # the catalog refuses) or at most (a dropped target under ``on_remove: report``, whose principal may
    # be retired))
    frozen: dict[str, tuple[frozenset[tuple[str, ...]], bool]] = field(default_factory=dict)


class History(RuleBasedStateMachine):
    """Bound to one engine's ``World`` by ``histories_for``."""

    world: World
    engine: Engine
    counter = 0

    def __init__(self) -> None:
        super().__init__()
        type(self).counter += 1
        self.app = AppModel(name=f"hist-{self.world.server.engine}-{self.world.run_id}-{self.counter}")
        self.app_id = (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}/providers/Microsoft.Web/sites/{self.app.name}"
        )
        self.ref: AppRef = parse_app_id(self.app_id)
        self.principal = principal_name(self.ref, self.engine)
        self.offered = all_offered(self.world)
        self.identities: set[str] = set()  # object ids of every identity the app has had
        self.by_hand: set[str] = set()  # ids of role assignments people made: never the product's
        self.refused_hold: set[str] = set()  # targets frozen because a tag with nothing allowed was refused
        self.outcomes: list[str] = []
        self.proven: set[tuple[str, ...]] = set()
        self.tables_made = 0
        self.world.start_history()
        self.world.write_catalog(self.offered)

    # -- what the model expects ---------------------------------------------------------------
    def allowed(self, feature: str) -> bool:
        return defects_on() or feature not in KNOWN_DEFECTS[self.world.server.engine]

    def active(self) -> dict[str, str]:
        """Targets the product must provision right now: requested, and offered by the catalog."""
        if not self.app.exists or self.app.tag is None:
            return {}
        return {t: role for t, role in self.app.tag.items() if role in self.offered.get(t, ())}

    def active_in(self, targets: Mapping[str, object]) -> dict[str, str]:
        """The active entries of one kind: ``self.world.targets`` (databases) or ``.rbac_targets``."""
        return {t: role for t, role in self.active().items() if t in targets}

    def skipped(self) -> set[str]:
        """Requested entries the catalog does not allow: reported, never acted on."""
        if not self.app.exists or self.app.tag is None:
            return set()
        return set(self.app.tag) - set(self.active())

    def before_change(self, after: dict[str, str], *, skip: set[str] | None = None) -> None:
        """Freeze what must survive a change that ends a target's provisioning: a dropped target under
        ``on_remove: report`` and an entry the catalog no longer allows keep their grants as they are;
        under ``revoke`` they must go. A tag the catalog allows nothing of is refused whole: nothing moves."""
        skip = (skip or set()) | {t for t, role in after.items() if role not in self.offered.get(t, ())}
        refused_whole = bool(after) and set(after) <= skip  # a tag with nothing allowed changes nothing
        if refused_whole:
            skip |= set(self.active())
            self.refused_hold |= set(self.active())
        elif after:
            self.release_refused()
        for target, _ in self.active().items():
            if target in after and target not in skip:
                continue
            if target in skip or self.spec(target).on_remove == "report":
                self.app.frozen[target] = (self.held(target), target in skip)
        for target in after:
            if target not in skip:
                self.app.frozen.pop(target, None)

    def release_refused(self) -> None:
        """The request is acceptable again, or gone: what a tag refused whole left in place may now go."""
        for target in self.refused_hold & self.app.frozen.keys():
            self.app.frozen[target] = (self.app.frozen[target][0], False)
        self.refused_hold = set()

    def drop_skips(self, tag: dict[str, str]) -> None:
        """A skipped entry the new tag no longer names is asked for no more: what it kept may now go
        (``on_remove`` applies), or stay."""
        for target in self.skipped() - set(tag):
            if target in self.app.frozen:
                self.app.frozen[target] = (self.app.frozen[target][0], False)

    def forget_skips(self) -> None:
        """The app is gone: what its skipped entries held is no longer frozen exactly; a server-wide
        principal retired for another target takes it along."""
        self.app.frozen = {target: (grants, False) for target, (grants, _) in self.app.frozen.items()}
        self.refused_hold = set()

    def db(self, target: str) -> str:
        return self.world.targets[target].database

    def spec(self, target: str) -> TargetSpec | RbacSpec:
        return self.world.targets.get(target) or self.world.rbac_targets[target]

    def held(self, target: str) -> frozenset[tuple[str, ...]]:
        """What the product gave the app at a target: the principal's grants in a database, or the role
        assignments at a container's scope to any identity the app has had (none made by hand)."""
        if target in self.world.targets:
            return self.world.server.grants(self.principal_in(target), self.db(target))
        return frozenset(self.ours(target).values())

    def ours(self, target: str) -> dict[str, tuple[str, str]]:
        """Role assignments at a container's scope to the app's identities (as ``settle`` noted them)
        that no person made."""
        return {
            id_: held
            for id_, held in self.world.assignments(target).items()
            if id_ not in self.by_hand and held[0] in self.identities
        }

    def live_identities(self) -> set[str]:
        """Object ids of the identities attached to the app now, read from ARM."""
        if not self.app.exists:
            return set()
        identity = self.world.emulator.site(self.app_id).get("identity") or {}
        found = {identity.get("principalId")} | {
            attached.get("principalId") for attached in (identity.get("userAssignedIdentities") or {}).values()
        }
        return {str(p).lower() for p in found if p}

    def note_identities(self) -> None:
        self.identities |= self.live_identities()

    def current_identity(self) -> tuple[str, str | None]:
        """(object id, client id to ask a token for) of the identity the app uses now; ("", None) before
        it has one (nothing requested yet)."""
        identity = (self.world.emulator.site(self.app_id) if self.app.exists else {}).get("identity") or {}
        if self.app.identity == "system":
            return str(identity.get("principalId") or "").lower(), None
        attached = {k.lower(): v for k, v in (identity.get("userAssignedIdentities") or {}).items()}
        chosen = attached.get(self.identity_id().lower())
        return (str(chosen["principalId"]).lower(), str(chosen["clientId"])) if chosen else ("", None)

    def principal_in(self, target: str) -> str:
        return self.principal

    def identity_binding(self) -> str:
        """The id the engine binds the principal to, read from ARM (the emulator's own view)."""
        principal, client_id = self.current_identity()
        if self.engine is Engine.POSTGRES:
            return principal
        return (client_id or self.world.emulator.identity_of(self.app_id)[1]).lower()

    def identity_id(self) -> str:
        return (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}"
            f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{self.app.name}-id"
        )

    # -- acting on the world ------------------------------------------------------------------
    def tags(self) -> dict[str, str]:
        tags = {"owner": "team-a"}
        if self.app.tag is not None:
            tags["passwordless"] = "; ".join(f"{t}:{r}" for t, r in self.app.tag.items())
        if self.app.identity != "system":
            tags["passwordless-identity"] = f"create:{self.app.name}-id"
        if self.app.client is not None:
            tags["passwordless-client"] = self.app.client
        return tags

    def settle(self) -> None:
        """Event Grid delivers what ARM raised; the product reconciles."""
        self.note_identities()
        self.outcomes = self.world.deliver_events(self.app_id)
        self.note_identities()

    @initialize(tag=REQUESTS)
    def create_app(self, tag: dict[str, str]) -> None:
        self.app.tag = tag
        self.app.exists = True
        self.world.emulator.create_site(
            SUBSCRIPTION, APPS_GROUP, self.app.name, tags=self.tags(), app_settings=dict(self.app.unrelated)
        )
        self.settle()

    @precondition(lambda self: self.app.exists)
    @rule(tag=REQUESTS, client=st.sampled_from(CLIENTS))
    def set_tag(self, tag: dict[str, str], client: str | None) -> None:
        """Add, drop or change targets, walk profiles up or down, or change the client type."""
        self.before_change(tag)
        self.drop_skips(tag)
        self.app.tag, self.app.client = tag, client
        self.world.emulator.set_tags(self.app_id, self.tags())
        self.settle()

    @precondition(lambda self: self.app.exists and self.app.tag is not None)
    @rule()
    def remove_tag(self) -> None:
        self.before_change({})
        self.drop_skips({})
        self.release_refused()
        self.app.tag = None
        self.world.emulator.set_tags(self.app_id, self.tags())
        self.settle()

    @precondition(lambda self: self.app.exists)
    @rule()
    def switch_identity(self) -> None:
        """system <-> a user-assigned identity the product creates (``create:<name>``)."""
        self.app.identity = "create" if self.app.identity == "system" else "system"
        self.app.identity_left_attached |= self.app.identity == "create"
        if not self.world.server.principal_per_database and self.skipped() - set(self.offered):
            # The principal is made anew for the new identity; a skipped entry names a target the catalog
            # no longer has, so where its grants live is unknown and they may not be carried over
            # (docs/architecture.md, "Isolation per entry").
            for target in self.app.frozen.keys() & self.world.targets.keys():
                self.app.frozen[target] = (self.app.frozen[target][0], False)
        self.world.emulator.set_tags(self.app_id, self.tags())
        self.settle()

    @precondition(lambda self: self.app.exists)
    @rule()
    def delete_app(self) -> None:
        self.before_change({})
        self.forget_skips()
        self.app.exists = False
        self.world.emulator.delete_site(self.app_id)
        self.settle()

    @precondition(lambda self: not self.app.exists)
    @rule()
    def recreate_app(self) -> None:
        """Same name, new site, new system identity: the most common real-world event."""
        self.app.exists = True
        self.app.unrelated = dict(UNRELATED)
        self.app.identity_left_attached = self.app.identity == "create"
        self.before_change(self.active())
        self.world.emulator.create_site(
            SUBSCRIPTION, APPS_GROUP, self.app.name, tags=self.tags(), app_settings=dict(self.app.unrelated)
        )
        self.settle()

    @precondition(
        lambda self: self.world.server.tables_by_app and any(role == "ddl" for role in self.active().values())
    )
    @rule(where=st.sampled_from(TARGETS))
    def app_creates_table(self, where: str) -> None:
        """The app runs its migrations: it logs in as its principal and creates a table."""
        ddl = sorted(t for t, role in self.active().items() if role == "ddl")
        target = where if where in ddl else ddl[0]
        self.tables_made += 1
        table = f"{self.app.name.replace('-', '_')}_t{self.tables_made}"
        self.world.server.create_table(self.principal_in(target), self.db(target), table)
        self.app.tables.append((target, table))

    @precondition(lambda self: self.app.exists)
    @rule(value=st.sampled_from(["changed", None]))
    def edit_unrelated_setting(self, value: str | None) -> None:
        """Someone edits a setting the product does not manage; it must stay as they left it."""
        if value is None:
            self.app.unrelated.pop("WEBSITE_TIME_ZONE", None)
            self.world.emulator.set_app_setting(self.app_id, "WEBSITE_TIME_ZONE", None)
        else:
            self.app.unrelated["UNRELATED_FLAG"] = value
            self.world.emulator.set_app_setting(self.app_id, "UNRELATED_FLAG", value)
        self.settle()

    @precondition(lambda self: bool(self.active_in(self.world.targets)))
    @rule(
        database=st.sampled_from([None, "revoke", "grant-extra", "drop-principal"]),
        setting=st.sampled_from([None, "delete", "edit"]),
        where=st.sampled_from(DATABASES),
    )
    def drift_by_hand(self, database: str | None, setting: str | None, where: str) -> None:
        """A DBA or a colleague changes what the product made; the audit must name exactly that, and
        the remediating audit must put it back."""
        active = self.active_in(self.world.targets)
        target = where if where in active else sorted(active)[0]
        principal, db, server = self.principal_in(target), self.db(target), self.world.server
        if self.skipped():  # no setting is removed while an entry is skipped, so which ones are wanted
            setting, database = None, database or "revoke"  # is not the model's to say: drift the database
        injected: set[str] = set()
        if database == "revoke":
            server.revoke_by_hand(principal, db)
            injected.add("privilege-missing")
        elif database == "grant-extra":
            server.grant_extra_by_hand(principal, db)
            injected.add("privilege-excess")
        elif database == "drop-principal":
            server.drop_principal_by_hand(principal, db)
            injected.add("principal-missing")
            if not server.principal_per_database:  # PostgreSQL roles and MySQL users are server-wide
                for other in self.app.frozen.keys() & self.world.targets.keys():
                    self.app.frozen[other] = (frozenset(), self.app.frozen[other][1])
        if setting is not None or not injected:
            settings = self.world.emulator.app_settings(self.app_id)
            managed = sorted(k for k in _managed(settings) if db in settings.get(k, ""))
            if setting == "delete":
                self.world.emulator.set_app_setting(self.app_id, managed[0], None)
                injected.add("setting-missing")
            else:
                self.world.emulator.set_app_setting(self.app_id, managed[0], "edited by hand")
                injected.add("setting-changed")
        self.audit_finds_exactly(injected)

    @precondition(lambda self: bool(self.active_in(self.world.rbac_targets)))
    @rule(where=st.sampled_from(CONTAINERS))
    def revoke_role_by_hand(self, where: str) -> None:
        """Someone deletes the assignment the product made; the audit names it, remediation restores it."""
        active = set(self.active_in(self.world.rbac_targets))
        target = where if where in active else sorted(active)[0]
        current = self.current_identity()[0]
        mine = [id_ for id_, (principal, _) in self.ours(target).items() if principal == current]
        if not mine:  # the role comes from an assignment someone else made: nothing of ours to delete
            return
        self.world.emulator.remove_role_assignment(mine[0])
        self.audit_finds_exactly({"role-missing"})

    @precondition(lambda self: self.app.exists)
    @rule(where=st.sampled_from(CONTAINERS), role=st.sampled_from(RBAC_ROLES), whom=st.sampled_from(["app", "other"]))
    def assign_role_by_hand(self, where: str, role: str, whom: str) -> None:
        """A person assigns a blob role in the portal, to the app's identity or another team's: the
        product never touches it, and the audit does not take it for the product's."""
        principal = self.current_identity()[0] if whom == "app" else SOMEONE_ELSE
        if (principal, BLOB_ROLES[role]) in self.world.assignments(where).values():
            return  # ARM refuses a second assignment of the same role to the same principal at one scope
        scope = self.world.rbac_targets[where].scope
        self.by_hand.add(self.world.emulator.assign_role(scope, BLOB_ROLES[role], principal).lower())
        self.audit_finds_exactly(set())

    def audit_finds_exactly(self, injected: set[str]) -> None:
        """The audit names what was injected and nothing beyond the drift the app carries by design;
        then the remediating audit runs, and Event Grid delivers what it changed."""
        found = {kind for kind, _ in self.world.audit_kinds(self.app_id, {self.principal})}
        standing = self.standing_kinds()
        assert injected <= found and found - standing == injected, (
            f"injected {sorted(injected)}, the audit found {sorted(found)}"
        )
        self.world.audit_kinds(self.app_id, {self.principal}, remediate=True)
        self.settle()

    def standing_kinds(self) -> set[str]:
        """Drift the app carries by design: grants left in place under ``on_remove: report`` and entries
        the catalog does not allow."""
        kinds = set()
        if any(grants for target, (grants, _) in self.app.frozen.items() if target in self.world.targets):
            # grants its app no longer asks for; with no database of that server asked for at all, the
            # principal is an orphan's (the audit cannot tell it from one left by an untagged app)
            asks = any(t in self.world.targets and t in self.offered for t in self.app.tag or {})
            kinds.add("privilege-unrequested" if asks else "orphan-principal")
        if self.app.identity_left_attached and self.app.identity == "system":
            kinds.add("privilege-unrequested")  # the identity it attached, which the request no longer names
        if self.skipped():
            kinds |= {"policy-denied", "request-invalid"}
        live, active = self.live_identities(), self.active()
        for target in self.world.rbac_targets:
            for principal, _ in self.ours(target).values():
                if principal not in live:
                    kinds.add("role-stale")  # left to an identity deleted with the app (on_remove: report)
                elif target not in active:
                    kinds.add("role-excess")  # left in place under report, or frozen by a skipped entry
        return kinds

    @rule(change=st.sampled_from(CATALOG_CHANGES))
    def edit_catalog(self, change: tuple[str, str]) -> None:
        """The platform team removes a target, stops offering a role, or puts the catalog back."""
        action, target = change
        offered = dict(self.offered)
        if action == "restore":
            offered = all_offered(self.world)
        elif action == "remove":
            offered.pop(target, None)
        elif target in offered:
            requested = (self.app.tag or {}).get(target, "writer")
            offered[target] = tuple(r for r in offered[target] if r != requested)
        allowed = {t: r for t, r in (self.app.tag or {}).items() if r in offered.get(t, ())}
        if self.app.exists:
            self.before_change(allowed, skip=set(self.active()) - set(allowed))
        self.offered = offered
        self.world.write_catalog(offered)
        if self.app.exists and self.app.tag is not None:  # the timer's remediating audit picks it up
            self.world.audit_kinds(self.app_id, {self.principal}, remediate=True)
        self.settle()

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def converged(self) -> None:
        """After every reconcile: the databases, the tables, the second plan and the settings."""
        self.databases_hold_exactly_the_request()
        self.principals_are_bound_to_the_current_identity()
        self.containers_hold_exactly_the_request()
        self.app_tables_survive_and_serve_the_app()
        self.second_plan_is_empty()
        self.settings_carry_the_request_and_nothing_else_changed()

    def databases_hold_exactly_the_request(self) -> None:
        server, active = self.world.server, self.active()
        for target in self.world.targets:
            principal, database = self.principal_in(target), self.db(target)
            held = server.grants(principal, database)
            if target in active:
                wanted = server.expected(active[target], database)
                assert held == wanted, (
                    f"{target} ({active[target]}): missing {sorted(wanted - held)}, excess {sorted(held - wanted)}"
                )
            elif target in self.app.frozen:
                left, exactly = self.app.frozen[target]
                if exactly:
                    assert held == left, f"{target}: the catalog refuses this entry, yet its grants changed"
                else:
                    assert held <= left, f"{target}: grants added to a principal left alone: {sorted(held - left)}"
            else:
                assert held == frozenset(), f"{target}: not requested, yet {principal!r} holds {sorted(held)}"

    def principals_are_bound_to_the_current_identity(self) -> None:
        server, active = self.world.server, self.active_in(self.world.targets)
        if not active:
            return
        binding = self.identity_binding()
        for target, role in active.items():
            found = server.binding(self.principal_in(target), self.db(target))
            assert found == binding, f"{target}: principal bound to {found}, the app's identity is {binding}"
            key = (target, role, binding)
            if key not in self.proven:
                server.prove_access(self.principal_in(target), self.db(target), role)
                self.proven.add(key)

    def containers_hold_exactly_the_request(self) -> None:
        """At each container's scope: one assignment of the requested role, to the identity the app uses
        (unless a person already gave it that role); frozen ones as frozen; nothing else of ours on
        an identity the app still has. Then the app's own token proves what the role allows."""
        active, live = self.active(), self.live_identities()
        current, client_id = self.current_identity()
        for target in self.world.rbac_targets:
            ours = self.ours(target)
            on_live = {held for held in ours.values() if held[0] in live}
            by_hand = {
                role for id_, (principal, role) in self.world.assignments(target).items()
                if id_ in self.by_hand and principal == current
            }  # fmt: skip
            if target in active:
                wanted = {(current, BLOB_ROLES[active[target]])}
                if wanted <= {(current, role) for role in by_hand}:
                    assert on_live <= wanted, f"{target}: excess assignments {sorted(on_live - wanted)}"
                else:
                    missing, excess = sorted(wanted - on_live), sorted(on_live - wanted)
                    assert on_live == wanted, f"{target}: missing {missing}, excess {excess}"
                self.prove_blob_access(target, active[target], frozenset(by_hand), client_id)
            elif target in self.app.frozen:
                left, exactly = self.app.frozen[target]
                held = frozenset(ours.values())
                if exactly:
                    assert held == left, f"{target}: the catalog refuses this entry, yet its assignments changed"
                else:
                    assert held <= left, f"{target}: assignments added where left alone: {sorted(held - left)}"
            else:
                assert not on_live, f"{target}: not requested, yet the app's identities hold {sorted(on_live)}"
        existing = {a["id"].lower() for a in self.world.emulator.role_assignments()}
        assert self.by_hand <= existing, f"assignments made by hand are gone: {sorted(self.by_hand - existing)}"

    def prove_blob_access(self, target: str, role: str, by_hand: frozenset[str], client_id: str | None) -> None:
        """With the app's own token: a blob can be read; written only if a role it holds allows it."""
        current = self.current_identity()[0]
        key = (target, role, current, *sorted(by_hand))
        if key in self.proven:
            return
        may_write = BLOB_ROLES[role] in BLOB_WRITERS or bool(by_hand & BLOB_WRITERS)
        read, write = self.world.blob_access(self.app_id, target, client_id)
        assert read == 200, f"{target} ({role}): reading a blob was answered {read}"
        assert write == (201 if may_write else 403), f"{target} ({role}): writing a blob was answered {write}"
        self.proven.add(key)

    def app_tables_survive_and_serve_the_app(self) -> None:
        active = self.active()
        for target, table in self.app.tables:
            assert self.world.server.table_exists(self.db(target), table), f"{table} in {target} is gone"
            if target in active:
                assert self.world.server.table_usable(self.principal_in(target), self.db(target), table), (
                    f"{table} in {target}, made by the app, is not usable by its current principal"
                )

    def second_plan_is_empty(self) -> None:
        if not self.app.exists:
            return
        document = self.world.status(self.app_id)
        steps = (document.get("plan") or {}).get("steps") or []
        assert steps == [], f"the product still plans {[s.get('description') for s in steps]}"

    def settings_carry_the_request_and_nothing_else_changed(self) -> None:
        if not self.app.exists:
            return
        settings = self.world.emulator.app_settings(self.app_id)
        for name, value in self.app.unrelated.items():
            assert settings.get(name) == value, f"unrelated setting {name} changed"
        managed = _managed(settings)
        for name in settings:
            assert name in self.app.unrelated or name in managed or name.startswith(BOOKKEEPING_PREFIX), name
        values = [settings[k] for k in managed if k in settings]
        for target in self.active():
            named = self.db(target) if target in self.world.targets else f"/blob/{STORAGE}/"
            assert any(named in v for v in values), f"no managed setting names {named} for {target}"
        for target, spec in self.world.targets.items():
            gone = target not in self.active() and target not in self.skipped()
            # the catalog still says revoke, and no entry is skipped (while one is, no setting is removed:
            # which of them the skipped entry's code reads cannot always be told)
            if gone and target in self.offered and spec.on_remove == "revoke" and not self.skipped():
                assert not any(spec.database in v for v in values), f"{target} was dropped, its settings stayed"


def all_offered(world: World) -> dict[str, tuple[str, ...]]:
    """The catalog as the platform team first wrote it: every role of every target."""
    return {name: tuple(ROLES) for name in world.targets} | {name: RBAC_ROLES for name in world.rbac_targets}


def _managed(settings: dict[str, str]) -> set[str]:
    """The keys the product says it manages (its own bookkeeping setting), bookkeeping excluded."""
    listed = {k.strip() for k in settings.get(MANAGED_KEYS, "").split(",") if k.strip()}
    return {k for k in listed if not k.startswith(BOOKKEEPING_PREFIX)}
