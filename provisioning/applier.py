"""Apply a plan's steps in order: identity first, then (re-planned with the real ids) SQL, then settings."""

from __future__ import annotations

from dataclasses import replace

from provisioning.errors import ConvergenceError
from provisioning.models import SiteState
from provisioning.observer import Observer
from provisioning.plan import (
    IDENTITY_STEPS,
    AssignRole,
    CreateUserIdentity,
    EnableSystemIdentity,
    IdentityStep,
    Plan,
    RevokeRole,
    SetAppSettings,
    SetKeyVaultReferenceIdentity,
    Step,
)
from provisioning.planner import Desired, Observed, databases_of, plan
from provisioning.ports import IdentitiesPort, RoleAssignmentsPort, WebAppsPort
from provisioning.sessions import Sessions


class Applier:
    def __init__(
        self,
        webapps: WebAppsPort,
        identities: IdentitiesPort,
        observer: Observer,
        roles: RoleAssignmentsPort | None = None,
    ) -> None:
        self._webapps = webapps
        self._identities = identities
        self._observer = observer
        self._roles = roles

    def apply(self, first: Plan, desired: Desired, observed: Observed, sessions: Sessions) -> Plan:
        """Identity steps first; then re-plan (pure) with the identity's ids and apply the rest in order.

        Returns the plan as applied, with the ids filled in where the first plan had placeholders.
        """
        applied: list[Step] = []
        current = first
        targets = databases_of(desired)
        identity_steps = [step for step in first.steps if isinstance(step, IDENTITY_STEPS)]
        if identity_steps:
            site = observed.site
            for identity_step in identity_steps:
                site = self._apply_identity(identity_step, site)
                applied.append(identity_step)
            observed = replace(observed, site=self._observer.with_client_id(site, targets.values()))
            current = sessions.render(plan(desired, observed), targets)
        for step in current.steps:
            if isinstance(step, IDENTITY_STEPS):
                raise ConvergenceError(f"{first.app.id}: the identity still needs '{step.description}' after apply")
            if isinstance(step, SetAppSettings):
                self._webapps.write_settings(step.app, observed.site.app_settings, step)
            elif isinstance(step, SetKeyVaultReferenceIdentity):
                self._webapps.set_key_vault_reference_identity(step.app, step.identity_id)
            elif isinstance(step, AssignRole):
                if step.principal_id is None or self._roles is None:
                    raise ConvergenceError(f"{first.app.id}: '{step.description}' has no identity to assign to")
                self._roles.create(step.scope, step.name, step.role, step.principal_id, step.note)
            elif isinstance(step, RevokeRole):
                assert self._roles is not None
                self._roles.delete(step.scope, step.name)
            else:
                sessions.get(targets[step.target]).apply(step, targets[step.target])
            applied.append(step)
        return replace(first, steps=tuple(applied))

    def _apply_identity(self, step: IdentityStep, site: SiteState) -> SiteState:
        if isinstance(step, CreateUserIdentity):
            self._identities.create_user_identity(step.identity_id, step.location, owner=step.app.id)
            return site
        if isinstance(step, EnableSystemIdentity):
            return self._webapps.update_identities(site, system=True, user_assigned=step.keep_user_assigned)
        return self._webapps.update_identities(
            site, system=step.keep_system, user_assigned=(*step.keep_user_assigned, step.identity_id)
        )
