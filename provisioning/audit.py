"""Drift audit: plan every managed app without applying, and name each difference's kind."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from functools import partial
from typing import Protocol

from provisioning.engines.dialects import dialect_for
from provisioning.engines.rbac import app_of_note, is_ours
from provisioning.errors import AdminMissing, InvalidRequest, PolicyViolation, PrincipalConflict, ProvisioningError
from provisioning.models import Catalog, Grant, IndexedRequest, SiteState, Target
from provisioning.plan import (
    DATABASE_STEPS,
    IDENTITY_STEPS,
    AssignRole,
    AttachUserIdentity,
    CreatePrincipal,
    CreateUserIdentity,
    DropPrincipal,
    EnableSystemIdentity,
    GrantPrivileges,
    Plan,
    RebindPrincipal,
    RevokePrivileges,
    RevokeRole,
    SetAppSettings,
)
from provisioning.planner import ATTACHED_IDENTITIES_SETTING, MANAGED_TARGETS_SETTING
from provisioning.policy import authorize_entries, authorize_rbac
from provisioning.principal_names import principal_name
from provisioning.rbac_roles import role_label
from provisioning.reconciler import Mode, Reconciler, ReconcileResult
from provisioning.requests import requested_by
from provisioning.resource_ids import AppRef
from provisioning.sessions import Sessions
from provisioning.settings import MANAGED_KEYS_SETTING, PLAIN_NAMES_SETTING, REQUEST_SETTING

log = logging.getLogger(__name__)
BOOKKEEPING = frozenset(
    {MANAGED_KEYS_SETTING, PLAIN_NAMES_SETTING, REQUEST_SETTING, ATTACHED_IDENTITIES_SETTING, MANAGED_TARGETS_SETTING}
)
MAX_SUBSCRIPTION_READERS = 16  # threads reading settings side by side, one per subscription


class DriftKind(str, Enum):
    IDENTITY_DISABLED = "identity-disabled"
    IDENTITY_DETACHED = "identity-detached"
    PRINCIPAL_MISSING = "principal-missing"
    PRINCIPAL_STALE_BINDING = "principal-stale-binding"
    PRIVILEGE_MISSING = "privilege-missing"
    PRIVILEGE_EXCESS = "privilege-excess"
    SETTING_MISSING = "setting-missing"
    SETTING_CHANGED = "setting-changed"
    PRIVILEGE_UNREQUESTED = "privilege-unrequested"
    ORPHAN_PRINCIPAL = "orphan-principal"
    PRINCIPAL_CONFLICT = "principal-conflict"
    ADMIN_MISSING = "admin-missing"
    REQUEST_INVALID = "request-invalid"
    POLICY_DENIED = "policy-denied"
    ROLE_MISSING = "role-missing"
    ROLE_EXCESS = "role-excess"  # made by this product, no longer requested
    ROLE_STALE = "role-stale"  # made by this product for an identity no audited app has any more
    NEVER_PROVISIONED = "never-provisioned"  # requested, not applied yet: the state `pending`, not drift


class AuditState(str, Enum):
    """One word per app, most urgent first; a pipeline or a person filters on it."""

    ERROR = "error"  # the audit could not tell (unreachable, throttled, something not found)
    INVALID = "invalid"  # the request (tag or kept request) is malformed
    DENIED = "denied"  # the catalog refuses it, or the function is not the server's administrator
    CONFLICT = "conflict"  # another owner holds what the request needs
    DRIFTED = "drifted"
    PENDING = "pending"  # requested, never provisioned
    REMEDIATED = "remediated"
    CLEAN = "clean"


class RemediationLog(Protocol):
    """Where an audit that remediates records each reconcile it runs, as every trigger records its
    reconciles (``Outcomes.recorder``: a run record and an outcome event), a failed one too."""

    def reconciled(self, result: ReconcileResult) -> None: ...

    def failed(self, app: AppRef, error: ProvisioningError) -> None: ...


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    detail: str
    target: str | None = None
    fix: str | None = None  # the exact statement or command that removes it, when it is not an apply


@dataclass(frozen=True)
class AppAudit:
    app: AppRef
    drift: tuple[Drift, ...] = ()
    error: str | None = None
    remediated: bool = False

    @property
    def status(self) -> str:
        kinds = {d.kind for d in self.drift}
        if self.error:
            return AuditState.ERROR.value
        if DriftKind.REQUEST_INVALID in kinds:
            return AuditState.INVALID.value
        if kinds & {DriftKind.POLICY_DENIED, DriftKind.ADMIN_MISSING}:
            return AuditState.DENIED.value
        if DriftKind.PRINCIPAL_CONFLICT in kinds:
            return AuditState.CONFLICT.value
        if self.remediated:
            return AuditState.REMEDIATED.value
        if DriftKind.NEVER_PROVISIONED in kinds:
            return AuditState.PENDING.value
        return AuditState.DRIFTED.value if self.drift else AuditState.CLEAN.value


@dataclass(frozen=True)
class AuditReport:
    started: datetime
    finished: datetime
    remediate: bool
    apps: tuple[AppAudit, ...] = field(default=())
    orphans: tuple[Drift, ...] = field(default=())
    catalog_queries: dict[str, int] = field(default_factory=dict)  # per "server/database"
    incomplete: tuple[str, ...] = field(default=())  # what the audit could not look at, and why

    def counts(self) -> dict[str, int]:
        statuses = [a.status for a in self.apps]
        return {state.value: statuses.count(state.value) for state in AuditState}

    def drift_by_kind(self) -> dict[str, int]:
        totals = {kind.value: 0 for kind in DriftKind}
        for orphan in self.orphans:  # orphan principals, and an app's grants nothing asks for
            totals[orphan.kind.value] += 1
        for app in self.apps:
            for drift in app.drift:
                totals[drift.kind.value] += 1
        return totals


def drift_of(plan: Plan, catalog: Catalog) -> tuple[Drift, ...]:
    """Each planned step is a difference between desired and observed; name its kind.

    Only causes are reported, not their consequences: an identity switched off also forces a rebind
    (its new id is not known yet), and a principal created or rebound needs every grant again; those
    follow-on steps are not separate drift. A principal lives where its engine keeps it (the catalog's
    targets say where, ``Dialect.principal_home``): a server-wide one missing is missing for every
    target on that server, never a privilege missing there.
    """
    if _never_provisioned(plan):  # nothing has drifted yet: all of it is the first apply
        return (Drift(DriftKind.NEVER_PROVISIONED, f"requested, never provisioned: the first apply has "
                      f"{len(plan.steps)} step(s)"),)  # fmt: skip
    identity_changes = any(isinstance(step, IDENTITY_STEPS) for step in plan.steps)
    home = _principal_homes(catalog)
    remade = {home(s.target): s for s in plan.steps if isinstance(s, CreatePrincipal | RebindPrincipal)}
    found: list[Drift] = [
        Drift(DriftKind.PRIVILEGE_UNREQUESTED, f"the request no longer asks for {target}; {step.description}", target)
        for target in plan.unrequested_targets
        for step in plan.steps
        if isinstance(step, DATABASE_STEPS) and step.target == target
    ]
    for step in plan.steps:
        if isinstance(step, DATABASE_STEPS) and step.target in plan.unrequested_targets:
            continue
        if isinstance(step, EnableSystemIdentity):
            found.append(Drift(DriftKind.IDENTITY_DISABLED, step.description))
        elif isinstance(step, AttachUserIdentity | CreateUserIdentity):
            found.append(Drift(DriftKind.IDENTITY_DETACHED, step.description))
        elif isinstance(step, CreatePrincipal):
            found.append(Drift(DriftKind.PRINCIPAL_MISSING, step.description, step.target))
        elif isinstance(step, RebindPrincipal):
            if not identity_changes:
                found.append(Drift(DriftKind.PRINCIPAL_STALE_BINDING, step.description, step.target))
        elif isinstance(step, GrantPrivileges):
            cause = remade.get(home(step.target))
            if cause is None:
                found += [Drift(DriftKind.PRIVILEGE_MISSING, _grant_text(g), step.target) for g in step.grants]
            elif cause.target != step.target:
                found += _shared_principal_drift(cause, step.target, identity_changes=identity_changes)
        elif isinstance(step, RevokePrivileges):
            found += [Drift(DriftKind.PRIVILEGE_EXCESS, _grant_text(g), step.target) for g in step.grants]
        elif isinstance(step, AssignRole):
            if identity_changes:
                continue  # a new identity needs its roles anew: the identity is the drift
            fix = (
                f"az role assignment create --assignee-object-id {step.principal_id} "
                f"--assignee-principal-type ServicePrincipal --role {step.role} --scope {step.scope}"
            )
            found.append(
                Drift(DriftKind.ROLE_MISSING, f"{role_label(step.role)} at {step.scope}; fix: {fix}", step.target)
            )
        elif isinstance(step, RevokeRole):
            assignment = f"{step.scope}/providers/Microsoft.Authorization/roleAssignments/{step.name}"
            fix = f"az role assignment delete --ids {assignment}"
            found.append(
                Drift(DriftKind.ROLE_EXCESS, f"{role_label(step.role)} at {step.scope}; fix: {fix}", step.target)
            )
        elif isinstance(step, SetAppSettings):
            found += [Drift(DriftKind.SETTING_CHANGED, move.description) for move in step.plain_names_moved]
            found += _setting_drift(step)
    found += [
        Drift(DriftKind.POLICY_DENIED if e.denied else DriftKind.REQUEST_INVALID, e.reason, e.target)
        for e in plan.skipped
    ]
    found += [
        Drift(
            DriftKind.PRIVILEGE_UNREQUESTED,
            f"user-assigned identity {rid} was attached by the provisioner and is no longer requested; "
            "it is never detached automatically",
        )
        for rid in plan.unrequested_identities
    ]
    return tuple(found)


def _principal_homes(catalog: Catalog) -> Callable[[str], str]:
    """Target name -> where its principal lives; targets sharing a home share one principal."""
    homes = {name: dialect_for(t.engine).principal_home(t) for name, t in catalog.targets.items()}
    return lambda target: homes.get(target, target)


def _shared_principal_drift(
    cause: CreatePrincipal | RebindPrincipal, target: str, *, identity_changes: bool
) -> list[Drift]:
    """The plan creates (or rebinds) a server-wide principal once, at the first of its targets; another
    target of the same server has the same cause, and its grants are only the consequence."""
    shared = f"principal {cause.principal!r} is shared with target {cause.target} on the same server: "
    if isinstance(cause, CreatePrincipal):
        return [Drift(DriftKind.PRINCIPAL_MISSING, shared + cause.description, target)]
    if identity_changes:
        return []  # the identity is the drift, as at the first target
    return [Drift(DriftKind.PRINCIPAL_STALE_BINDING, shared + cause.description, target)]


def _never_provisioned(plan: Plan) -> bool:
    """No bookkeeping setting exists yet: every apply writes them, so no apply has run."""
    if plan.unrequested_identities:
        return False
    for step in plan.steps:
        if isinstance(step, SetAppSettings) and MANAGED_KEYS_SETTING in step.absent:
            kept = {key for key, _ in step.set} & (BOOKKEEPING - {MANAGED_KEYS_SETTING})
            return kept <= set(step.absent)
    return False


def _setting_drift(step: SetAppSettings) -> list[Drift]:
    """One finding per connection and kind, naming its settings (a connection's settings go together:
    ``AZURE_POSTGRESQL_HOST`` and ``AZURE_POSTGRESQL_USER`` are one connection)."""
    groups: dict[tuple[DriftKind, str], list[str]] = {}
    for key, _ in step.set:
        if key in BOOKKEEPING:
            continue  # our own record of what we manage: not something the app reads
        kind = DriftKind.SETTING_MISSING if key in step.absent else DriftKind.SETTING_CHANGED
        groups.setdefault((kind, key.rsplit("_", 1)[0]), []).append(key)
    for key in step.remove:
        groups.setdefault((DriftKind.SETTING_CHANGED, key.rsplit("_", 1)[0]), []).append(key + " (no longer managed)")
    return [
        Drift(kind, f"app setting(s) of connection {connection}: {', '.join(sorted(keys))}")
        for (kind, connection), keys in sorted(groups.items())
    ]


def _grant_text(grant: Grant) -> str:
    return f"{grant.privilege} on {grant.object_kind} {'.'.join(grant.object_name)}"


def drift_of_error(error: ProvisioningError) -> Drift | None:
    """Permanent refusals that are drift to report (a bad tag, a denied request, a lost admin)."""
    kinds = (
        (PrincipalConflict, DriftKind.PRINCIPAL_CONFLICT),
        (InvalidRequest, DriftKind.REQUEST_INVALID),
        (PolicyViolation, DriftKind.POLICY_DENIED),
        (AdminMissing, DriftKind.ADMIN_MISSING),
    )
    return next((Drift(kind, str(error)) for cls, kind in kinds if isinstance(error, cls)), None)


@dataclass(frozen=True)
class AuditPart:
    """What one worker found for its share of the apps and of the servers; parts combine into one
    report without reading any database again."""

    apps: tuple[AppAudit, ...]
    orphans: tuple[Drift, ...] = ()
    catalog_queries: dict[str, int] = field(default_factory=dict)
    incomplete: tuple[str, ...] = ()  # databases the orphan scan could not read, and why
    # (RBAC scope, object id) its apps' identities account for: role-stale needs every part's at once
    role_claims: tuple[tuple[str, str], ...] = ()


def audit(
    reconciler: Reconciler,
    sites: Iterable[SiteState],
    *,
    indexed: Iterable[IndexedRequest] = (),
    remediate: bool = False,
    progress: Callable[[int, AppAudit], None] | None = None,
    remediations: RemediationLog | None = None,
) -> AuditReport:
    """Audit every discovered app (tagged ones as Resource Graph found them, and the ones the request
    index names) and scan every catalog server for orphans (one process); ``remediations`` records each
    reconcile ``remediate`` runs."""
    started = datetime.now(UTC)
    servers = {target.server.key for target in reconciler.catalog.targets.values()}
    scopes = {scope for target in reconciler.catalog.rbac_targets.values() for scope in target.scopes}
    part = audit_part(
        reconciler,
        sites,
        indexed=indexed,
        servers=servers,
        rbac_scopes=scopes,
        remediate=remediate,
        progress=progress,
        remediations=remediations,
    )
    return combine([part], started=started, remediate=remediate)


def audit_part(
    reconciler: Reconciler,
    sites: Iterable[SiteState],
    *,
    indexed: Iterable[IndexedRequest] = (),
    servers: Iterable[str],
    rbac_scopes: Iterable[str] = (),
    remediate: bool = False,
    progress: Callable[[int, AppAudit], None] | None = None,
    remediations: RemediationLog | None = None,
) -> AuditPart:
    """Plan a share of the apps, and scan ``servers`` (catalog server keys) for orphan principals.

    Every database of those servers is read once, before any app (one snapshot per database, shared
    by every app and by the orphan scan), so database queries grow with databases, not with apps.
    The apps' settings (one ARM request each; an indexed app's site too, which Resource Graph did not
    give) are read with one reader per subscription side by side, since ARM's budgets are per
    subscription; planning itself is then local work. An app that asks for nothing when it is read
    (an indexed app deleted, or its request withdrawn) is not audited: what it left is an orphan's.
    The caller gives every app's servers to exactly one part, so the claims the orphan scan needs
    are all here.
    """
    tagged = list(sites)
    named = list(indexed)
    reads: list[tuple[AppRef, Callable[[], SiteState | None]]] = [
        *((site.app, partial(reconciler.discovered_with_settings, site)) for site in tagged),
        *((entry.app, partial(reconciler.indexed_with_settings, entry.app)) for entry in named),
    ]
    scanned = set(servers)
    results: list[AppAudit] = []
    with reconciler.batch() as batch:
        for target in reconciler.catalog.targets.values():
            if target.server.key in scanned:
                _read_snapshot(batch, target)
        prepared = _read_by_subscription(reads)
        for (app, _), ready in zip(reads, prepared, strict=True):
            if ready is None:
                continue
            outcome = _audit_site(reconciler, batch, app, ready, remediate=remediate, remediations=remediations)
            results.append(outcome)
            if progress is not None:
                progress(len(results), outcome)
        # Tagged apps claim as Resource Graph found them; an indexed app as read, or by its indexed request.
        indexed_reads = prepared[len(tagged) :]
        known = [*tagged, *(_as_known(ready, entry) for entry, ready in zip(named, indexed_reads, strict=True))]
        claimed: set[tuple[str, str]] = set().union(*(_claims(reconciler, site) for site in known if site))
        orphans, skipped = _orphans(reconciler, batch, claimed, scanned)
        orphans += _stale_roles(reconciler, claimed, set(rbac_scopes))
        queries = batch.catalog_queries()
    return AuditPart(tuple(results), orphans, queries, skipped, _role_claims(reconciler, claimed))


def combine(parts: Iterable[AuditPart], *, started: datetime, remediate: bool) -> AuditReport:
    """One report from every part: their apps, their orphans, their catalog query counts."""
    apps: list[AppAudit] = []
    orphans: list[Drift] = []
    queries: dict[str, int] = {}
    incomplete: list[str] = []
    for part in parts:
        apps += part.apps
        orphans += part.orphans
        incomplete += part.incomplete
        for database, count in part.catalog_queries.items():
            queries[database] = queries.get(database, 0) + count
    apps.sort(key=lambda audit: audit.app.key)
    orphans.sort(key=lambda drift: (drift.target or "", drift.detail))
    return AuditReport(
        started, datetime.now(UTC), remediate, tuple(apps), tuple(orphans), queries, tuple(sorted(incomplete))
    )


def _read_snapshot(batch: Sessions, target: Target) -> None:
    """Read a database up front; a failure is left for each app (and the orphan scan) to report."""
    with contextlib.suppress(ProvisioningError):
        batch.snapshot(target)


Prepared = SiteState | None | ProvisioningError  # with settings; asks for nothing; refused or failed


def _read_by_subscription(reads: list[tuple[AppRef, Callable[[], SiteState | None]]]) -> list[Prepared]:
    """Each app's ARM reads, by one worker thread per subscription."""
    by_subscription: dict[str, list[int]] = defaultdict(list)
    for index, (app, _) in enumerate(reads):
        by_subscription[app.subscription.lower()].append(index)
    prepared: list[Prepared] = [None] * len(reads)

    def read(indices: list[int]) -> None:
        for index in indices:
            try:
                prepared[index] = reads[index][1]()
            except ProvisioningError as exc:
                prepared[index] = exc

    if len(by_subscription) <= 1:
        for indices in by_subscription.values():
            read(indices)
        return prepared
    with ThreadPoolExecutor(min(len(by_subscription), MAX_SUBSCRIPTION_READERS)) as pool:
        list(pool.map(read, by_subscription.values()))
    return prepared


def _audit_site(
    reconciler: Reconciler,
    batch: Sessions,
    app: AppRef,
    ready: SiteState | ProvisioningError,
    *,
    remediate: bool,
    remediations: RemediationLog | None = None,
) -> AppAudit:
    try:
        if isinstance(ready, ProvisioningError):
            raise ready
        result = reconciler.plan_discovered(ready, batch)
        drift = drift_of(result.plan, reconciler.catalog)
        if remediate and drift:
            _remediate(reconciler, app, remediations)
            return AppAudit(app, drift, remediated=True)
        return AppAudit(app, drift)
    except (InvalidRequest, PolicyViolation, AdminMissing, PrincipalConflict) as exc:
        found = drift_of_error(exc)
        assert found is not None
        return AppAudit(app, (found,))
    except ProvisioningError as exc:  # NotFound included: it names what is missing (the app, a server...)
        log.warning("audit of %s failed: %s", app.id, exc)
        return AppAudit(app, error=str(exc))


def _remediate(reconciler: Reconciler, app: AppRef, remediations: RemediationLog | None) -> None:
    """Reconcile a drifted app; recorded like any other reconcile, a failed one too (then re-raised,
    so the audit reports the app as it does any error)."""
    try:
        result = reconciler.reconcile_app(app, Mode.APPLY)
    except ProvisioningError as exc:
        if remediations is not None:
            remediations.failed(app, exc)
        raise
    if remediations is not None and result is not None:
        remediations.reconciled(result)


def _as_known(ready: Prepared, entry: IndexedRequest) -> SiteState | None:
    """An indexed app as the orphan scan knows it: as read; when it could not be read, by the request
    the index keeps (no identity then, so its role assignments are not told apart); None: not requested."""
    if isinstance(ready, ProvisioningError):
        return SiteState(entry.app, {}, "", None, {}, {REQUEST_SETTING: entry.request})
    return ready


def _claims(reconciler: Reconciler, site: SiteState) -> set[tuple[str, str]]:
    """(place, principal) pairs a valid, allowed request of this app accounts for: ("server/database",
    database principal) for databases, (RBAC scope, the identity's object id) for role assignments."""
    try:
        request = requested_by(site, prefix=reconciler.tag_prefix)
        if request is None:
            return set()
        allowed, refused = authorize_entries(request, reconciler.catalog)
        denied = {e.target for e in refused}
        kept = replace(request, connections=tuple(c for c in request.connections if c.target not in denied))
        roles = authorize_rbac(kept, reconciler.catalog)
    except ProvisioningError:
        return set()
    # A skipped entry's principal and role assignments are left as they are, so they are not orphans either.
    skipped = {e.target for e in request.skipped + refused if e.target}
    named = {g.target.name for g in allowed} | skipped
    targets = [reconciler.catalog.targets[name] for name in sorted(named) if name in reconciler.catalog.targets]
    claims = {(_database_key(t), principal_name(site.app, t.engine)) for t in targets}
    identity_id = request.identity.resource_id_for(site.app)
    attached = site.attached(identity_id) if identity_id is not None else None
    principal = attached.principal_id if attached is not None else site.system_principal_id
    rbac = [g.target for g in roles] + [t for n, t in reconciler.catalog.rbac_targets.items() if n in skipped]
    if principal:
        claims |= {(scope.lower(), principal.lower()) for target in rbac for scope in target.scopes}
    return claims


def _role_claims(reconciler: Reconciler, claimed: set[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    scopes = {scope.lower() for target in reconciler.catalog.rbac_targets.values() for scope in target.scopes}
    return tuple(sorted(claim for claim in claimed if claim[0] in scopes))


def stale_roles(reconciler: Reconciler, parts: Iterable[AuditPart]) -> tuple[Drift, ...]:
    """``role-stale`` over every catalog RBAC scope, given every part's role claims: what the queued
    audit's aggregating worker runs once, since no single part holds every claim on a scope."""
    scopes = {scope for target in reconciler.catalog.rbac_targets.values() for scope in target.scopes}
    if not scopes:
        return ()
    return _stale_roles(reconciler, {claim for part in parts for claim in part.role_claims}, scopes)


def _stale_roles(reconciler: Reconciler, claimed: set[tuple[str, str]], scopes: set[str]) -> tuple[Drift, ...]:
    """Role assignments this product made at a catalog scope that no audited app's identity accounts
    for: the app was deleted or recreated (its identity is gone) or untagged under ``on_remove: report``.
    One ARM list per scope in ``scopes``, whatever the number of apps. The queue fan-out cuts parts by
    database server, so its parts pass no scopes and the aggregating worker runs ``stale_roles``."""
    found: list[Drift] = []
    for target in reconciler.catalog.rbac_targets.values():
        for scope in (s for s in target.scopes if s in scopes):
            try:
                held = reconciler.list_assignments_at(scope)
            except ProvisioningError as exc:
                log.warning("stale role scan of %s skipped: %s", scope, exc)
                continue
            for assignment in held:
                if assignment.scope.lower() != scope.lower() or not is_ours(assignment):
                    continue
                if (scope.lower(), assignment.principal_id.lower()) in claimed:
                    continue
                found.append(
                    Drift(
                        DriftKind.ROLE_STALE,
                        f"{role_label(assignment.role)} at {scope} for {assignment.principal_id}, "
                        f"made for {app_of_note(assignment.description) or 'an app'} that no longer uses it; "
                        f"fix: az role assignment delete --ids {assignment.id}",
                        target.name,
                        fix=f"az role assignment delete --ids {assignment.id}",
                    )
                )
    return tuple(found)


def _database_key(target: Target) -> str:
    return f"{target.server.key}/{target.database.lower()}"


def _orphans(
    reconciler: Reconciler, batch: Sessions, claimed: set[tuple[str, str]], servers: set[str]
) -> tuple[tuple[Drift, ...], tuple[str, ...]]:
    """Entra-bound principals holding privileges in a catalog database that no audited app claims
    (an app deleted or untagged under ``on_remove: report``), each with the statements that drop it.
    Administrators are never orphans. A database that could not be read is named, never silent."""
    found: list[Drift] = []
    skipped: list[str] = []
    for target in reconciler.catalog.targets.values():
        if target.server.key not in servers:
            continue
        try:
            snapshot = batch.snapshot(target)
        except ProvisioningError as exc:
            log.warning("orphan scan of %s skipped: %s", target.name, exc)
            skipped.append(f"orphan scan of target {target.name} ({target.database}) skipped: {exc}")
            continue
        admins = {admin.login for admin in batch.servers[target.server.key].administrators}
        claimed_on_server = {name for key, name in claimed if key.startswith(target.server.key + "/")}
        for name, binding in sorted(snapshot.principals.items()):
            unclaimed = (_database_key(target), name) not in claimed
            if not (binding and snapshot.grants.get(name) and name not in admins and unclaimed):
                continue
            if name in claimed_on_server:  # an app's principal, holding grants where no request asks
                found.append(
                    Drift(
                        DriftKind.PRIVILEGE_UNREQUESTED,
                        f"principal {name!r} holds privileges in {target.database}, which its app no longer "
                        "asks for (on_remove: report keeps them; revoke them, or set on_remove: revoke)",
                        target.name,
                    )
                )
                continue
            session = batch.get(target)  # revoke first: some engines refuse to drop a principal with grants
            revoke = RevokePrivileges(target.name, name, tuple(sorted(snapshot.grants[name])))
            # What it owns goes to the owner of the managed scope, as on removal: no data is dropped.
            successor = snapshot.default_owner if dialect_for(target.engine).retires_by_reassigning else None
            try:
                statements = session.render(revoke, target) + session.render(
                    DropPrincipal(target.name, name, successor), target
                )
            except ProvisioningError as exc:  # e.g. nothing to hand its objects to: say so, keep the finding
                log.warning("no drop statement for orphan %s on %s: %s", name, target.name, exc)
                statements = ()
            found.append(
                Drift(
                    DriftKind.ORPHAN_PRINCIPAL,
                    f"principal {name!r} (bound to {binding}) holds privileges in database "
                    f"{target.database} on server {target.server.names[0]} but no managed app uses it; "
                    f"the fix runs in {target.database}",
                    target.name,
                    fix="; ".join(statement.rstrip(";") for statement in statements) + ";" if statements else None,
                )
            )
    return tuple(found), tuple(skipped)
