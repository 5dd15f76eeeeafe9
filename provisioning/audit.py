"""Drift audit: plan every managed app without applying, and name each difference's kind."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

from provisioning.errors import AdminMissing, InvalidRequest, NotFound, PolicyViolation, ProvisioningError
from provisioning.models import Grant
from provisioning.plan import (
    CreatePrincipal,
    EnableSystemIdentity,
    GrantPrivileges,
    Plan,
    RebindPrincipal,
    RevokePrivileges,
    SetAppSettings,
)
from provisioning.reconciler import Mode, Reconciler
from provisioning.resource_ids import AppRef

log = logging.getLogger(__name__)


class DriftKind(str, Enum):
    IDENTITY_DISABLED = "identity-disabled"
    IDENTITY_DETACHED = "identity-detached"
    PRINCIPAL_MISSING = "principal-missing"
    PRINCIPAL_STALE_BINDING = "principal-stale-binding"
    PRIVILEGE_MISSING = "privilege-missing"
    PRIVILEGE_EXCESS = "privilege-excess"
    SETTING_MISSING = "setting-missing"
    SETTING_CHANGED = "setting-changed"
    ORPHAN_PRINCIPAL = "orphan-principal"
    ADMIN_MISSING = "admin-missing"
    REQUEST_INVALID = "request-invalid"
    POLICY_DENIED = "policy-denied"


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    detail: str
    target: str | None = None


@dataclass(frozen=True)
class AppAudit:
    app: AppRef
    drift: tuple[Drift, ...] = ()
    error: str | None = None
    remediated: bool = False

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        if self.drift and not self.remediated:
            return "drifted"
        return "remediated" if self.remediated else "clean"


@dataclass(frozen=True)
class AuditReport:
    started: datetime
    finished: datetime
    remediate: bool
    apps: tuple[AppAudit, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        statuses = [a.status for a in self.apps]
        return {status: statuses.count(status) for status in ("clean", "drifted", "remediated", "error")}

    def drift_by_kind(self) -> dict[str, int]:
        totals = {kind.value: 0 for kind in DriftKind}
        for app in self.apps:
            for drift in app.drift:
                totals[drift.kind.value] += 1
        return totals


def drift_of(plan: Plan) -> tuple[Drift, ...]:
    """Each planned step is a difference between desired and observed; name its kind."""
    found: list[Drift] = []
    for step in plan.steps:
        if isinstance(step, EnableSystemIdentity):
            found.append(Drift(DriftKind.IDENTITY_DISABLED, step.description))
        elif isinstance(step, CreatePrincipal):
            found.append(Drift(DriftKind.PRINCIPAL_MISSING, step.description, step.target))
        elif isinstance(step, RebindPrincipal):
            found.append(Drift(DriftKind.PRINCIPAL_STALE_BINDING, step.description, step.target))
        elif isinstance(step, GrantPrivileges):
            found += [Drift(DriftKind.PRIVILEGE_MISSING, _grant_text(g), step.target) for g in step.grants]
        elif isinstance(step, RevokePrivileges):
            found += [Drift(DriftKind.PRIVILEGE_EXCESS, _grant_text(g), step.target) for g in step.grants]
        elif isinstance(step, SetAppSettings):
            for key, _ in step.set:
                kind = DriftKind.SETTING_MISSING if key in step.absent else DriftKind.SETTING_CHANGED
                found.append(Drift(kind, f"app setting {key}"))
            found += [
                Drift(DriftKind.SETTING_CHANGED, f"app setting {key} is no longer managed") for key in step.remove
            ]
    return tuple(found)


def _grant_text(grant: Grant) -> str:
    return f"{grant.privilege} on {grant.object_kind} {'.'.join(grant.object_name)}"


def drift_of_error(error: ProvisioningError) -> Drift | None:
    """Permanent refusals that are drift to report (a bad tag, a denied request, a lost admin)."""
    kinds = (
        (InvalidRequest, DriftKind.REQUEST_INVALID),
        (PolicyViolation, DriftKind.POLICY_DENIED),
        (AdminMissing, DriftKind.ADMIN_MISSING),
    )
    return next((Drift(kind, str(error)) for cls, kind in kinds if isinstance(error, cls)), None)


def audit_app(reconciler: Reconciler, app: AppRef, *, remediate: bool = False) -> AppAudit:
    """Plan one app; permanent problems become drift kinds, never an aborted audit."""
    try:
        result = reconciler.reconcile_app(app, Mode.PLAN)
        if result is None:
            return AppAudit(app, error="the app lost its request tag during the audit")
        drift = drift_of(result.plan)
        if remediate and drift:
            reconciler.reconcile_app(app, Mode.APPLY)
            return AppAudit(app, drift, remediated=True)
        return AppAudit(app, drift)
    except (InvalidRequest, PolicyViolation, AdminMissing) as exc:
        found = drift_of_error(exc)
        assert found is not None
        return AppAudit(app, (found,))
    except NotFound as exc:
        return AppAudit(app, error=f"app disappeared during the audit: {exc}")
    except ProvisioningError as exc:
        log.warning("audit of %s failed: %s", app.id, exc)
        return AppAudit(app, error=str(exc))


def audit(
    reconciler: Reconciler,
    apps: Iterable[AppRef],
    *,
    remediate: bool = False,
    progress: Callable[[int, AppAudit], None] | None = None,
) -> AuditReport:
    started = datetime.now(UTC)
    results: list[AppAudit] = []
    for number, app in enumerate(apps, start=1):
        outcome = audit_app(reconciler, app, remediate=remediate)
        results.append(outcome)
        if progress is not None:
            progress(number, outcome)
    return AuditReport(started, datetime.now(UTC), remediate, tuple(results))
