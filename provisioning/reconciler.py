"""observe -> plan -> apply -> verify for one app, under its lock: the only place that sequences
side effects. Each phase has its own module: ``requests`` (which request), ``policy`` (allowed?),
``observer`` (read), ``planner`` (pure diff), ``applier`` (write), ``removal`` (an app that stopped
asking), ``sessions`` (database sessions as the server's admin)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from datetime import datetime

from provisioning.applier import Applier
from provisioning.errors import ConvergenceError, InvalidRequest, NotFound, PermanentError, PolicyViolation
from provisioning.models import AppRequest, Catalog, RoleAssignmentState, SiteState, Target
from provisioning.observer import Observer
from provisioning.planner import Desired, databases_of, plan, remembered_targets
from provisioning.policy import authorize_entries, authorize_rbac
from provisioning.ports import (
    IdentitiesPort,
    IdentityHoldersPort,
    LocksPort,
    RequestIndexPort,
    RoleAssignmentsPort,
    ServersPort,
    SessionFactory,
    WebAppsPort,
)
from provisioning.rbac_targets import RbacTarget
from provisioning.removal import Removal
from provisioning.requests import (
    REQUEST_SETTING,
    governing_request,
    is_requested,
    request_from_tags,
    request_to_setting,
    requested_by,
)
from provisioning.resource_ids import AppRef
from provisioning.results import Mode, ReconcileResult
from provisioning.sessions import DatabaseAccess, Sessions
from provisioning.settings import MANAGED_KEYS_SETTING, parse_managed_keys

__all__ = ["Mode", "ReconcileResult", "Reconciler"]
log = logging.getLogger(__name__)


class Reconciler:
    def __init__(
        self,
        catalog: Catalog,
        *,
        webapps: WebAppsPort,
        identities: IdentitiesPort,
        identity_holders: IdentityHoldersPort,
        servers: ServersPort,
        open_session: SessionFactory,
        locks: LocksPort,
        function_object_id: str = "",
        tag_prefix: str = "passwordless",
        roles: RoleAssignmentsPort | None = None,
        request_index: RequestIndexPort | None = None,
    ) -> None:
        self.catalog = catalog
        self.tag_prefix = tag_prefix
        self._webapps = webapps
        self._locks = locks
        self._index = request_index
        self._databases = DatabaseAccess(
            catalog, servers=servers, open_session=open_session, function_object_id=function_object_id
        )
        self._roles = roles
        self._observer = Observer(identities, identity_holders, roles)
        self._applier = Applier(webapps, identities, self._observer, roles)
        self._removal = Removal(
            catalog, webapps=webapps, databases=self._databases, observer=self._observer, roles=roles
        )
        self._scope_names = {
            scope.lower(): target.name for target in catalog.rbac_targets.values() for scope in target.scopes
        }

    def reconcile_app(
        self, app: AppRef, mode: Mode = Mode.APPLY, *, cause: str | None = None
    ) -> ReconcileResult | None:
        """Reconcile what the app asks for (the Event Grid and audit path): its tag, else the request a
        pipeline kept on it. An app that asks for nothing but still carries managed settings goes
        through removal; None when the app neither asks nor was ever provisioned."""
        with self._exclusive(app, mode, cause):
            site = self._webapps.get_site(app)
            request = requested_by(site, prefix=self.tag_prefix)
            if request is not None:
                return self._reconcile(request, site, mode)
            if parse_managed_keys(site.app_settings.get(MANAGED_KEYS_SETTING)):
                return self._unindexed(self._removal.remove(app, self._observer.with_all_ids(site), mode))
            return None

    def already_handled(self, app: AppRef, cause: str, moment: datetime | None) -> bool:
        """Was this event (or everything up to ``moment``) taken in by a finished apply of the app?"""
        return self._locks.already_handled(app, cause, moment)

    def remove_app(self, app: AppRef, mode: Mode = Mode.APPLY, *, cause: str | None = None) -> ReconcileResult:
        """The app was deleted: drop its principals where the catalog says ``on_remove: revoke``."""
        with self._exclusive(app, mode, cause):
            return self._unindexed(self._removal.remove(app, None, mode))

    def reconcile_request(self, request: AppRequest, mode: Mode = Mode.APPLY) -> ReconcileResult:
        """Reconcile an explicit request (the pipeline path). On a tagged app the tag governs: the
        request must ask the same (``requests.governing_request``)."""
        with self._exclusive(request.app, mode, None):
            site = self._webapps.get_site(request.app)
            return self._reconcile(governing_request(request, site, prefix=self.tag_prefix), site, mode)

    @contextmanager
    def batch(self) -> Iterator[Sessions]:
        """Sessions shared by many read-only plans (the audit): each database read once."""
        with self._databases.batch() as sessions:
            yield sessions

    def discovered_with_settings(self, site: SiteState) -> SiteState | None:
        """An app found by discovery (tags and identities came with it), completed with what its plan
        also needs from ARM: its settings (the one request ARM charges as a write) and, where an
        engine binds to it, its client id. Only once the request is valid and allowed, since a
        refused request needs neither; None when the app does not ask for anything."""
        if not is_requested(site.tags, prefix=self.tag_prefix):
            return None
        request = request_from_tags(site.app, site.tags, prefix=self.tag_prefix)
        connections, _ = authorize_entries(request, self.catalog)
        with_settings = replace(site, app_settings=self._webapps.list_settings(site.app))
        return self._observer.with_client_id(with_settings, [c.target for c in connections])

    def indexed_with_settings(self, app: AppRef) -> SiteState | None:
        """An app the request index names, read whole from ARM (Resource Graph returned nothing of it),
        with its client id where an engine binds to it. None when it no longer asks for anything, or is
        gone (ARM answers a GET of a deleted site 404 ``ResourceNotFound``: recorded answer
        ``error_404_site.json``): either way it leaves the index, as a removal would take it out."""
        try:
            site = self._webapps.get_site(app)
        except NotFound:
            site = None
        request = requested_by(site, prefix=self.tag_prefix) if site is not None else None
        if site is None or request is None:
            if self._index is not None:
                self._index.forget(app)
            return None
        connections, _ = authorize_entries(request, self.catalog)
        return self._observer.with_client_id(site, [c.target for c in connections])

    def plan_discovered(self, site: SiteState, batch: Sessions) -> ReconcileResult:
        """Plan an app completed by ``discovered_with_settings`` or ``indexed_with_settings`` from the
        batch's snapshots: what it asks for, as ``reconcile_app`` reads it (its tag, else its kept request)."""
        request = requested_by(site, prefix=self.tag_prefix)
        if request is None:
            raise InvalidRequest(f"{site.app.id} asks for nothing: no tag {self.tag_prefix!r} and no kept request")
        return self._reconcile(request, site, Mode.PLAN, shared=batch)

    def list_assignments_at(self, scope: str) -> tuple[RoleAssignmentState, ...]:
        """Every role assignment at, above or below an RBAC scope (the audit's stale-role scan)."""
        if self._roles is None:
            raise PermanentError("RBAC targets are in the catalog but no role-assignment client is configured")
        return self._roles.list_at(scope)

    def _index_converged(self, request: AppRequest, site: SiteState) -> None:
        """Tag discovery cannot see a request kept in an app setting, so the index names every app a
        pipeline's request governs once it converged (under the app's lock, like the apply); a tag that
        took over from such a request (the apply removed the kept one) takes the app out again."""
        if self._index is None:
            return
        if request.from_pipeline:
            self._index.record(request.app, request_to_setting(request))
        elif REQUEST_SETTING in site.app_settings:
            self._index.forget(request.app)

    def _unindexed(self, result: ReconcileResult) -> ReconcileResult:
        """An app removed (deleted, or asking for nothing) leaves the request index with its apply."""
        if result.mode is Mode.APPLY and self._index is not None:
            self._index.forget(result.app)
        return result

    def _exclusive(self, app: AppRef, mode: Mode, cause: str | None) -> AbstractContextManager[None]:
        """Applies of one app are serialized across instances, so concurrent ones cannot lose settings
        or race to create the principal; a plan changes nothing and takes no lock."""
        return self._locks.hold(app, cause=cause) if mode is Mode.APPLY else nullcontext()

    def _reconcile(
        self, request: AppRequest, site: SiteState, mode: Mode, *, shared: Sessions | None = None
    ) -> ReconcileResult:
        started = time.monotonic()
        connections, denied = authorize_entries(request, self.catalog)
        if request.from_pipeline and denied:  # an explicit request is allowed whole or refused whole
            raise PolicyViolation(denied[0].reason)
        skipped = request.skipped + denied
        refused = {e.target for e in denied}
        kept = replace(request, connections=tuple(c for c in request.connections if c.target not in refused))
        rbac = authorize_rbac(kept, self.catalog)
        named = {e.target for e in skipped if e.target}
        asked = {c.target.name for c in connections} | {g.target.name for g in rbac} | named
        unasked = sorted(remembered_targets(site) - asked)
        dropped = tuple(self.catalog.targets[name] for name in unasked if name in self.catalog.targets)
        dropped_rbac = tuple(self.catalog.rbac_targets[name] for name in unasked if name in self.catalog.rbac_targets)
        every_target: dict[str, Target | RbacTarget] = {**self.catalog.targets, **self.catalog.rbac_targets}
        skipped_targets = tuple(every_target[name] for name in sorted(named)) if named <= set(every_target) else None
        desired = Desired(
            request, connections, rbac, self._scope_names, skipped, dropped, skipped_targets, dropped_rbac
        )
        targets = databases_of(desired)
        site = self._observer.with_client_id(site, targets.values())
        with self._databases.sessions(targets.values(), shared) as sessions:
            observed = self._observer.observe(desired, site, sessions)
            first = sessions.render(plan(desired, observed), targets)
            applied = mode is Mode.APPLY and not first.empty
            if applied:
                first = self._applier.apply(first, desired, observed, sessions)
                verify_site = self._observer.with_client_id(self._webapps.get_site(request.app), targets.values())
                second = plan(desired, self._observer.observe(desired, verify_site, sessions))
                if not second.empty:
                    raise ConvergenceError(f"after apply, {request.app.id} still plans:\n{second.describe()}")
                log.info("reconciled %s: %d step(s) applied", request.app.id, len(first.steps))
            if mode is Mode.APPLY:
                self._index_converged(request, site)
            return ReconcileResult(
                request.app,
                mode,
                first,
                applied,
                time.monotonic() - started,
                sessions.catalog_queries(),
                sessions.writes(),
            )
