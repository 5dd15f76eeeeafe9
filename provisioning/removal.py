"""Removal: an app deleted, or no longer asking, loses its principals where the catalog says
``on_remove: revoke``, and its managed settings with them."""

from __future__ import annotations

import logging
import time

from provisioning.engines.rbac import app_of_note, is_ours
from provisioning.errors import ConvergenceError
from provisioning.models import Catalog, DatabaseState, OnRemove, SiteState
from provisioning.observer import Observer
from provisioning.plan import DATABASE_STEPS, Plan, RevokeRole, SetAppSettings
from provisioning.planner import plan_removal
from provisioning.ports import RoleAssignmentsPort, WebAppsPort
from provisioning.principal_names import principal_name
from provisioning.resource_ids import AppRef, is_within
from provisioning.results import Mode, ReconcileResult
from provisioning.sessions import DatabaseAccess

log = logging.getLogger(__name__)


class Removal:
    def __init__(
        self,
        catalog: Catalog,
        *,
        webapps: WebAppsPort,
        databases: DatabaseAccess,
        observer: Observer,
        roles: RoleAssignmentsPort | None = None,
    ) -> None:
        self._catalog = catalog
        self._webapps = webapps
        self._databases = databases
        self._observer = observer
        self._roles = roles

    def remove(self, app: AppRef, site: SiteState | None, mode: Mode) -> ReconcileResult:
        """``site`` is None when the app is gone; else it carries every id of the app's identities."""
        started = time.monotonic()
        targets = [
            t
            for t in self._catalog.targets.values()
            if t.on_remove is OnRemove.REVOKE and any(is_within(app.id, scope) for scope in t.allowed_sources)
        ]
        by_name = {t.name: t for t in targets}
        with self._databases.sessions(targets) as sessions:

            def observe() -> dict[str, DatabaseState]:
                return {t.name: sessions.observe(t, principal_name(app, t.engine)) for t in targets}

            databases = observe()
            # A deleted app's identities are gone with it: what else still holds a principal's identity
            # is a namesake's (or a surviving user-assigned identity's), and it is never dropped.
            holders = self._observer.binding_holders(app, targets, databases, set()) if site is None else {}
            revocations = self._revocations(app)
            removal = plan_removal(app, site, targets, databases, holders, roles_revoked=bool(revocations))
            planned = Plan(app, (*revocations, *sessions.render(removal, by_name).steps))
            applied = mode is Mode.APPLY and not planned.empty
            if applied:
                for step in planned.steps:
                    if isinstance(step, SetAppSettings):
                        assert site is not None
                        self._webapps.write_settings(app, site.app_settings, step)
                    elif isinstance(step, RevokeRole):
                        assert self._roles is not None
                        self._roles.delete(step.scope, step.name)
                    elif isinstance(step, DATABASE_STEPS):
                        sessions.get(by_name[step.target]).apply(step, by_name[step.target])
                remaining = plan_removal(app, site, targets, observe(), holders).steps + self._revocations(app)
                if remaining:
                    remaining_plan = Plan(app, remaining)
                    raise ConvergenceError(f"after removal, {app.id} still plans:\n{remaining_plan.describe()}")
                log.info("removed %s: %d step(s) applied", app.id, len(planned.steps))
            return ReconcileResult(
                app,
                mode,
                planned,
                applied,
                time.monotonic() - started,
                sessions.catalog_queries(),
                sessions.writes(),
            )

    def _revocations(self, app: AppRef) -> tuple[RevokeRole, ...]:
        """The role assignments this product made for the app on ``on_remove: revoke`` RBAC targets, found
        by their description at each target's scope (the app's identity may be gone): one list per scope."""
        targets = [
            t
            for t in self._catalog.rbac_targets.values()
            if t.on_remove is OnRemove.REVOKE and any(is_within(app.id, scope) for scope in t.allowed_sources)
        ]
        if not targets or self._roles is None:
            return ()
        found: list[RevokeRole] = []
        for target in targets:
            for scope in target.scopes:
                for assignment in self._roles.list_at(scope):
                    mine = app_of_note(assignment.description) == app.key and is_ours(assignment)
                    if mine and assignment.scope.lower() == scope.lower():
                        found.append(RevokeRole(target.name, assignment.scope, assignment.role, assignment.name))
        return tuple(found)
