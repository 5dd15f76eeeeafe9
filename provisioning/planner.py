"""plan(desired, observed) -> Plan. Pure: no I/O, so every decision is table-testable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from provisioning.engines.dialects import dialect_for
from provisioning.engines.rbac import plan_roles
from provisioning.errors import Conflict, NotFound, PolicyViolation, PrincipalConflict
from provisioning.models import (
    AppRequest,
    BindingKind,
    ClientType,
    DatabaseState,
    Engine,
    IdentityHolder,
    IdentityKind,
    OnRemove,
    RoleAssignmentState,
    ServerInfo,
    SiteState,
    SkippedEntry,
    Target,
    UserAssignedIdentity,
)
from provisioning.plan import (
    DATABASE_STEPS,
    AttachUserIdentity,
    CreatePrincipal,
    CreateUserIdentity,
    DropPrincipal,
    EnableSystemIdentity,
    GrantPrivileges,
    PlainNamesMove,
    Plan,
    RebindPrincipal,
    RevokePrivileges,
    SetAppSettings,
    SetKeyVaultReferenceIdentity,
    Step,
)
from provisioning.policy import Grantable, RbacGrant
from provisioning.principal_names import principal_name
from provisioning.rbac_roles import RbacKind
from provisioning.rbac_settings import RbacConnection, rbac_settings_for
from provisioning.rbac_targets import RbacTarget
from provisioning.requests import request_to_setting
from provisioning.resource_ids import AppRef
from provisioning.settings import (
    MANAGED_KEYS_SETTING,
    PLAIN_NAMES_SETTING,
    REQUEST_SETTING,
    Connection,
    format_managed_keys,
    format_plain_owners,
    infer_client,
    parse_managed_keys,
    parse_plain_owners,
    settings_for,
)

# Bookkeeping on the app, like the managed keys: which user-assigned identities the provisioner attached,
# so the audit reports one the request stops naming (and never one the team attached itself).
ATTACHED_IDENTITIES_SETTING = "PASSWORDLESS_ATTACHED_IDENTITIES"
# Bookkeeping too: the catalog targets the provisioner provisioned for the app, so a target dropped
# from the request is retired there (kept on the app rather than in the function's storage: it lives
# and dies with the app, costs no extra read, and the settings write that records it is the one the
# reconcile makes anyway).
MANAGED_TARGETS_SETTING = "PASSWORDLESS_MANAGED_TARGETS"


@dataclass(frozen=True)
class Desired:
    """``skipped``: entries left out (malformed or denied); nothing of theirs is taken away."""

    request: AppRequest
    connections: tuple[Grantable, ...]
    rbac: tuple[RbacGrant, ...] = ()
    scope_names: Mapping[str, str] = field(default_factory=dict)  # lower-case RBAC scope -> catalog target
    skipped: tuple[SkippedEntry, ...] = ()
    # Catalog targets the app was provisioned for (``PASSWORDLESS_MANAGED_TARGETS``) and no longer asks.
    dropped: tuple[Target, ...] = ()
    # Where skipped entries point: the catalog targets they name, or None when one names a target the
    # catalog no longer has (its server and scope are then unknown, so no principal anywhere may be
    # retired and no role assignment revoked).
    skipped_targets: tuple[Target | RbacTarget, ...] | None = ()
    # RBAC targets the app was provisioned for (``PASSWORDLESS_MANAGED_TARGETS``) and no longer asks.
    dropped_rbac: tuple[RbacTarget, ...] = ()


@dataclass(frozen=True)
class Observed:
    site: SiteState
    servers: Mapping[str, ServerInfo]
    databases: Mapping[str, DatabaseState]
    # User-assigned identities the request names, by lower-cased id, read only when not attached.
    user_identities: Mapping[str, UserAssignedIdentity] = field(default_factory=dict)
    # The live holders of each identity id an observed principal is bound to that is not one of the
    # app's own (lower-cased id -> holders; empty: that identity no longer exists).
    binding_holders: Mapping[str, tuple[IdentityHolder, ...]] = field(default_factory=dict)
    assignments: tuple[RoleAssignmentState, ...] = ()  # the identity's role assignments
    endpoints: Mapping[str, str] = field(default_factory=dict)  # RBAC target name -> data-plane endpoint


def plan(desired: Desired, observed: Observed) -> Plan:
    """Ordered steps: identity, then principals, then grants (before revokes), then settings."""
    app = desired.request.app
    steps: list[Step] = list(_plan_identity(desired, observed))
    identity = identity_ids(desired, observed)

    recreated: set[str] = set()  # homes (see Dialect.principal_home) whose principal is made anew
    seen_homes: set[str] = set()
    for connection in desired.connections:
        target = connection.target
        dialect = dialect_for(target.engine)
        home = dialect.principal_home(target)
        if home in seen_homes:
            continue
        seen_homes.add(home)
        state = observed.databases[target.name]
        name = principal_name(app, target.engine)
        kind = dialect.binding_kind
        binding = _binding_of(identity, kind)
        object_id = identity.principal_id or None if identity is not None else None
        if state.principal is None:
            steps.append(CreatePrincipal(target.name, name, binding, kind, object_id))
            recreated.add(home)
        elif binding is None or state.principal.binding != binding:
            if state.principal.binding is None:
                raise Conflict(
                    f"{target.name}: a database principal named {name!r} exists but is not bound to any "
                    "Entra identity; it was not made by this provisioner, so it is left alone"
                )
            _refuse_takeover(app, target.name, name, state.principal.binding, observed)
            steps.append(RebindPrincipal(target.name, name, state.principal.binding, binding, kind, object_id))
            steps += _carried_over(desired, observed, home, name)
            recreated.add(home)

    for connection in desired.connections:
        target = connection.target
        dialect = dialect_for(target.engine)
        state = observed.databases[target.name]
        name = principal_name(app, target.engine)
        wanted = dialect.expected_grants(target, connection.profile, state)
        held = frozenset() if dialect.principal_home(target) in recreated else state.grants
        missing = tuple(sorted(wanted - held))
        excess = tuple(sorted(held - wanted))
        if missing:
            steps.append(GrantPrivileges(target.name, name, missing))
        if excess:
            steps.append(RevokePrivileges(target.name, name, excess))

    retiring = _plan_dropped(desired, observed, _kept_homes(desired, seen_homes), identity)
    steps += retiring
    if desired.rbac or desired.dropped_rbac:
        principal_id = identity.principal_id or None if identity is not None else None
        steps += plan_roles(
            app,
            principal_id,
            desired.rbac,
            observed.assignments,
            desired.scope_names,
            kept_scopes=_skipped_scopes(desired),
            kept_targets=frozenset(name.lower() for name in _skipped_targets(desired)),
        )
        steps += _plan_reference_identity(desired, observed)

    settings_step = _plan_settings(desired, observed)
    if settings_step is not None:
        steps.append(settings_step)
    unrequested = tuple(sorted({step.target for step in retiring if isinstance(step, DATABASE_STEPS)}))
    return Plan(app, tuple(steps), unrequested_identities(desired, observed), desired.skipped, unrequested)


def databases_of(desired: Desired) -> dict[str, Target]:
    """Every target database a reconcile reads or writes, by name: the requested, the dropped, and the
    skipped ones whose principal a requested target shares."""
    every = [*(c.target for c in desired.connections), *desired.dropped, *sharing_skipped(desired)]
    return {t.name: t for t in every}


def sharing_skipped(desired: Desired) -> tuple[Target, ...]:
    """Skipped entries' databases whose principal is one a requested target uses too (a server-wide
    PostgreSQL role or MySQL user): a rebind of that principal must carry their grants over."""
    homes = {dialect_for(c.target.engine).principal_home(c.target) for c in desired.connections}
    requested = {c.target.name for c in desired.connections}
    return tuple(
        t
        for t in desired.skipped_targets or ()
        if isinstance(t, Target) and t.name not in requested and dialect_for(t.engine).principal_home(t) in homes
    )


def _carried_over(desired: Desired, observed: Observed, home: str, principal: str) -> list[Step]:
    """A rebind makes the principal anew, bound to the new identity: what it held for a skipped entry
    (nothing of which is taken away) is granted again, exactly as it was."""
    steps: list[Step] = []
    for target in sharing_skipped(desired):
        state = observed.databases.get(target.name)
        if dialect_for(target.engine).principal_home(target) == home and state is not None and state.grants:
            steps.append(GrantPrivileges(target.name, principal, tuple(sorted(state.grants))))
    return steps


def remembered_targets(site: SiteState) -> frozenset[str]:
    """The targets the provisioner provisioned for the app, as it recorded them on the app."""
    return frozenset(t for t in (site.app_settings.get(MANAGED_TARGETS_SETTING) or "").split(",") if t)


def _kept_homes(desired: Desired, requested_homes: set[str]) -> set[str] | None:
    """Homes of principals the request or a skipped entry still uses: never retired. None: every home,
    since an entry names a target the catalog no longer has, whose home is unknown."""
    if desired.skipped_targets is None:
        return None
    skipped = {dialect_for(t.engine).principal_home(t) for t in desired.skipped_targets if isinstance(t, Target)}
    return requested_homes | skipped


def _skipped_scopes(desired: Desired) -> frozenset[str] | None:
    """RBAC scopes (lower-case) a skipped entry still holds: none of their assignments is revoked.
    None: an entry names a target the catalog no longer has, whose scope is unknown."""
    if desired.skipped_targets is None:
        return None
    return frozenset(scope.lower() for t in desired.skipped_targets if isinstance(t, RbacTarget) for scope in t.scopes)


def _plan_dropped(
    desired: Desired, observed: Observed, kept_homes: set[str] | None, identity: UserAssignedIdentity | None
) -> list[Step]:
    """Targets the app was provisioned for and no longer asks: on ``on_remove: revoke`` its grants
    there are revoked, and its principal retired where nothing it still asks for (or a skipped entry
    still holds) shares it. Only a principal bound to the app's own identity is touched;
    ``on_remove: report`` leaves it for the audit (``privilege-unrequested``)."""
    app = desired.request.app
    remembered = remembered_targets(observed.site)
    own = own_identity_ids(observed.site) | ({identity.principal_id, identity.client_id} if identity else set())
    retired: set[str] = set()
    steps: list[Step] = []
    for target in desired.dropped:
        state = observed.databases[target.name]
        if target.name not in remembered or target.on_remove is not OnRemove.REVOKE or state.principal is None:
            continue
        if (state.principal.binding or "").lower() not in {i.lower() for i in own if i} or not state.grants:
            continue
        dialect = dialect_for(target.engine)
        home = dialect.principal_home(target)
        name = principal_name(app, target.engine)
        if kept_homes is None or home in kept_homes or home in retired:
            steps.append(RevokePrivileges(target.name, name, tuple(sorted(state.grants))))
        else:
            successor = state.default_owner if dialect.retires_by_reassigning else None
            steps.append(DropPrincipal(target.name, name, successor))
            retired.add(home)
    return steps


def attached_by_provisioner(desired: Desired, observed: Observed) -> frozenset[str]:
    """User-assigned identities the provisioner attached to the app (lower-cased ids), as recorded in
    ``PASSWORDLESS_ATTACHED_IDENTITIES``: every one a request of the app has named, plus the current one."""
    recorded = observed.site.app_settings.get(ATTACHED_IDENTITIES_SETTING) or ""
    named = desired.request.identity.resource_id_for(desired.request.app)
    return frozenset({i for i in recorded.lower().split(",") if i} | ({named.lower()} if named else set()))


def unrequested_identities(desired: Desired, observed: Observed) -> tuple[str, ...]:
    """Identities the provisioner attached that are still attached and that the request no longer names.
    An identity an app team attached by hand is theirs, never reported."""
    named = (desired.request.identity.resource_id_for(desired.request.app) or "").lower()
    attached = {rid.lower() for rid in observed.site.user_assigned}
    return tuple(sorted((attached_by_provisioner(desired, observed) & attached) - {named}))


def _refuse_takeover(app: AppRef, target: str, name: str, bound_to: str, observed: Observed) -> None:
    """A principal is rebound only from the app's own earlier identity, or from one that no longer
    exists. Names come from site names, and two live sites can share one (other resource groups or
    subscriptions): rebinding a namesake's principal would move its database access to this app."""
    if bound_to.lower() in own_identity_ids(observed.site):
        return  # an identity switch on this very app
    holders = observed.binding_holders.get(bound_to.lower())
    if holders is None:
        raise Conflict(
            f"{target}: whether identity {bound_to}, which principal {name!r} is bound to, is still live was "
            "not observed; the principal is not rebound"
        )
    others = foreign_holders(app, holders)
    if others:
        raise PrincipalConflict(
            f"{target}: principal {name!r} is bound to identity {bound_to} of {', '.join(others)}, which is live; "
            f"{app.id} has the same principal name, and rebinding it would hand that app's database access to "
            "this one, so it is not rebound. The platform team resolves it: rename one of the apps, or drop "
            "the other's principal once it no longer needs it",
            holders=others,
        )


def foreign_holders(app: AppRef, holders: Sequence[IdentityHolder]) -> tuple[str, ...]:
    """The holders that are not ``app`` itself, nor a user-assigned identity created for it."""
    mine = app.id.lower()
    return tuple(
        sorted(h.resource_id for h in holders if h.resource_id.lower() != mine and (h.owner or "").lower() != mine)
    )


def identity_ids(desired: Desired, observed: Observed) -> UserAssignedIdentity | None:
    """Object and client id of the identity the request uses; None while they cannot be known.

    A user-assigned identity's ids come from the identity itself, attached or not yet. A system
    identity's client id may be "" when no engine binds to it (it is then never read).
    """
    spec, site = desired.request.identity, observed.site
    if spec.kind is IdentityKind.SYSTEM:
        if site.system_principal_id is None:
            return None
        return UserAssignedIdentity(site.system_principal_id, site.system_client_id or "")
    identity_id = spec.resource_id_for(desired.request.app)
    if identity_id is None:
        return None
    return site.attached(identity_id) or observed.user_identities.get(identity_id.lower())


def _binding_of(identity: UserAssignedIdentity | None, kind: BindingKind) -> str | None:
    if identity is None:
        return None
    return (identity.principal_id if kind is BindingKind.OBJECT_ID else identity.client_id) or None


def _plan_identity(desired: Desired, observed: Observed) -> list[Step]:
    """Switch the system identity on, or create and attach the user-assigned one; never detach any."""
    app, site, spec = desired.request.app, observed.site, desired.request.identity
    keep = tuple(sorted(site.user_assigned))
    if spec.kind is IdentityKind.SYSTEM:
        return [] if site.system_principal_id else [EnableSystemIdentity(app, keep_user_assigned=keep)]
    identity_id = spec.resource_id_for(app)
    assert identity_id is not None
    if site.attached(identity_id) is not None:
        return []
    steps: list[Step] = []
    existing = observed.user_identities.get(identity_id.lower())
    if existing is None:
        if spec.kind is IdentityKind.USER:
            raise NotFound(f"user-assigned identity {identity_id} named by the request does not exist")
        steps.append(CreateUserIdentity(app, identity_id, site.location))
    elif spec.kind is IdentityKind.CREATE and (existing.owner or "").lower() != app.id.lower():
        raise PolicyViolation(
            f"create:{spec.name}: user-assigned identity {identity_id} already exists and was not created for "
            f"{app.id} (its passwordless-owner tag says otherwise), so it is not adopted"
        )
    steps.append(
        AttachUserIdentity(app, identity_id, keep_system=site.system_principal_id is not None, keep_user_assigned=keep)
    )
    return steps


def _plan_reference_identity(desired: Desired, observed: Observed) -> list[Step]:
    """A Key Vault reference read through a user-assigned identity needs that identity named on the site."""
    spec = desired.request.identity
    references = any(g.target.kind is RbacKind.KEYVAULT_REFERENCE for g in desired.rbac)
    identity_id = spec.resource_id_for(desired.request.app)
    if not references or spec.kind is IdentityKind.SYSTEM or identity_id is None:
        return []
    if (observed.site.key_vault_reference_identity or "").lower() == identity_id.lower():
        return []
    return [SetKeyVaultReferenceIdentity(desired.request.app, identity_id)]


def desired_settings(desired: Desired, observed: Observed) -> dict[str, str]:
    owners = plain_name_owners(desired, observed)
    settings: dict[str, str] = {}
    for connection in desired.connections:
        target = connection.target
        settings |= settings_for(
            _connection(desired, observed, target, owns=owners[target.engine.value] == target.name)
        )
    settings |= _rbac_settings(desired, observed)
    return settings


def _rbac_settings(desired: Desired, observed: Observed) -> dict[str, str]:
    """Plain names of a kind go to its first target by name, so reordering the tag changes nothing."""
    identity = identity_ids(desired, observed)
    user_assigned = desired.request.identity.kind is not IdentityKind.SYSTEM
    settings: dict[str, str] = {}
    kinds_seen: set[str] = set()
    for grant in sorted(desired.rbac, key=lambda g: g.target.name):
        settings |= rbac_settings_for(
            RbacConnection(
                target=grant.target,
                endpoint=observed.endpoints[grant.target.name],
                client=_client(desired.request.client, observed.site.linux_fx_version),
                first_of_kind=grant.target.kind.value not in kinds_seen,
                user_assigned_client_id=identity.client_id if identity is not None and user_assigned else None,
            )
        )
        kinds_seen.add(grant.target.kind.value)
    return settings


def plain_name_owners(desired: Desired, observed: Observed) -> dict[str, str]:
    """Which requested target owns each engine's plain setting names (engine value -> target).

    The owner remembered on the app keeps them while it is still requested, so reordering a tag
    changes nothing; a skipped owner keeps them too, even when no entry of its engine is acted on.
    Without one (an app provisioned before it was remembered), the target whose values the plain
    names hold now keeps them; otherwise the engine's first target in the request.
    """
    remembered = parse_plain_owners(observed.site.app_settings.get(PLAIN_NAMES_SETTING))
    skipped = _skipped_targets(desired)
    requested: dict[str, list[Target]] = {}
    for connection in desired.connections:
        requested.setdefault(connection.target.engine.value, []).append(connection.target)
    owners = {engine: owner for engine, owner in remembered.items() if engine not in requested and owner in skipped}
    for engine, targets in requested.items():
        names = [target.name for target in targets]
        if remembered.get(engine) in names or remembered.get(engine) in skipped:
            owners[engine] = remembered[engine]  # a skipped owner keeps them: its app code still reads them
            continue
        holding = [target.name for target in targets if _holds_plain_names(desired, observed, target)]
        owners[engine] = holding[0] if holding else names[0]
    return owners


def _holds_plain_names(desired: Desired, observed: Observed, target: Target) -> bool:
    current = observed.site.app_settings
    plain = settings_for(_connection(desired, observed, target, owns=True))
    return all(current.get(key) == value for key, value in plain.items())


def _connection(desired: Desired, observed: Observed, target: Target, *, owns: bool) -> Connection:
    identity = identity_ids(desired, observed)
    user_assigned = desired.request.identity.kind is not IdentityKind.SYSTEM
    server = observed.servers[target.server.key]
    return Connection(
        engine=target.engine,
        target=target.name,
        fqdn=server.fqdn,
        port=server.port,
        database=target.database,
        principal=principal_name(desired.request.app, target.engine),
        tls=target.tls,
        client=_client(desired.request.client, observed.site.linux_fx_version),
        owns_plain_names=owns,
        user_assigned_client_id=identity.client_id if identity is not None and user_assigned else None,
    )


def _plan_settings(desired: Desired, observed: Observed) -> SetAppSettings | None:
    current = observed.site.app_settings
    wanted = desired_settings(desired, observed)
    owners = plain_name_owners(desired, observed)
    wanted[PLAIN_NAMES_SETTING] = format_plain_owners(owners)
    if desired.request.from_pipeline:
        wanted[REQUEST_SETTING] = request_to_setting(desired.request)
    attached = attached_by_provisioner(desired, observed)
    if attached:
        wanted[ATTACHED_IDENTITIES_SETTING] = ",".join(sorted(attached))
    # What is provisioned now, what a skipped entry keeps (nothing of it is taken away), and the dropped
    # RBAC targets whose revocation waits while a skipped entry's scope is unknown.
    kept = remembered_targets(observed.site) & _skipped_targets(desired)
    if desired.skipped_targets is None:
        kept |= {t.name for t in desired.dropped_rbac}
    provisioned = {c.target.name for c in desired.connections} | {g.target.name for g in desired.rbac}
    wanted[MANAGED_TARGETS_SETTING] = ",".join(sorted(provisioned | kept))
    previously_managed = parse_managed_keys(current.get(MANAGED_KEYS_SETTING))
    # A skipped entry's settings stay, and stay managed: once the entry is valid again, or dropped,
    # they are the product's to rewrite or remove, never a leftover nobody owns.
    still_managed = {k for k in previously_managed if k in current} if desired.skipped else set()
    wanted[MANAGED_KEYS_SETTING] = format_managed_keys(frozenset(wanted) | still_managed)
    to_set = tuple(sorted((k, v) for k, v in wanted.items() if current.get(k) != v))
    # While an entry is skipped its settings may be among the previously managed: none is removed.
    to_remove = () if desired.skipped else tuple(sorted(k for k in previously_managed - set(wanted) if k in current))
    if not to_set and not to_remove:
        return None
    absent = tuple(k for k, _ in to_set if k not in current)
    moved = tuple(
        PlainNamesMove(dialect_for(Engine(engine)).setting_prefix, before, owner)
        for engine, owner in sorted(owners.items())
        if (before := _plain_names_now(desired, observed, engine)) not in (None, owner)
    )
    return SetAppSettings(desired.request.app, set=to_set, remove=to_remove, absent=absent, plain_names_moved=moved)


def _skipped_targets(desired: Desired) -> frozenset[str]:
    return frozenset(e.target for e in desired.skipped if e.target)


def _plain_names_now(desired: Desired, observed: Observed, engine: str) -> str | None:
    """The target an engine's plain names point to now: the requested one whose values they hold,
    else the one remembered (a target no longer requested); None when they were never written."""
    holding = [
        c.target.name
        for c in desired.connections
        if c.target.engine.value == engine and _holds_plain_names(desired, observed, c.target)
    ]
    remembered = parse_plain_owners(observed.site.app_settings.get(PLAIN_NAMES_SETTING)).get(engine)
    return holding[0] if holding else remembered


def plan_removal(
    app: AppRef,
    site: SiteState | None,
    targets: Sequence[Target],
    databases: Mapping[str, DatabaseState],
    binding_holders: Mapping[str, tuple[IdentityHolder, ...]] | None = None,
    *,
    roles_revoked: bool = False,
) -> Plan:
    """Drop the app's principals on ``on_remove: revoke`` targets and, when any goes (or a role assignment
    made for it, ``roles_revoked``), its managed settings.

    A principal counts as the target's only if it holds privileges in the target's scope (a principal
    may live server-wide, see ``Dialect.principal_scope``). Only a principal bound to one of the app's
    identities is dropped, so a namesake app elsewhere keeps its access: while the app exists, one of
    the identities it has; once it is deleted, an identity no live resource but the app holds any
    more (``binding_holders``; a binding not looked up there is never dropped).
    """
    steps: list[Step] = []
    own_ids = own_identity_ids(site)
    holders = binding_holders or {}
    seen_homes: set[str] = set()
    for target in targets:
        state = databases[target.name]
        home = dialect_for(target.engine).principal_home(target)
        if home in seen_homes or state.principal is None or not state.grants:
            continue
        bound_to = (state.principal.binding or "").lower()
        if site is not None and bound_to not in own_ids:
            continue
        if site is None and (bound_to not in holders or foreign_holders(app, holders[bound_to])):
            continue
        seen_homes.add(home)
        successor = state.default_owner if dialect_for(target.engine).retires_by_reassigning else None
        steps.append(DropPrincipal(target.name, principal_name(app, target.engine), successor))
    if (steps or roles_revoked) and site is not None:
        managed = parse_managed_keys(site.app_settings.get(MANAGED_KEYS_SETTING)) | {MANAGED_KEYS_SETTING}
        remove = tuple(sorted(key for key in managed if key in site.app_settings))
        if remove:
            steps.append(SetAppSettings(app, set=(), remove=remove))
    return Plan(app, tuple(steps))


def own_identity_ids(site: SiteState | None) -> set[str]:
    """Every object and client id of the identities the app has now (lower case, as ARM's are read)."""
    if site is None:
        return set()
    ids = {site.system_principal_id, site.system_client_id}
    for identity in site.user_assigned.values():
        ids |= {identity.principal_id, identity.client_id}
    return {i.lower() for i in ids if i}


def _client(requested: ClientType | None, linux_fx_version: str) -> ClientType:
    """The requested client type (``none`` included: no framework), else the stack's."""
    return requested if requested is not None else infer_client(linux_fx_version)
