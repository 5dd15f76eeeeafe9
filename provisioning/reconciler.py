"""observe -> plan -> apply -> verify for one app. The only place that sequences side effects."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from provisioning.engines.base import DatabaseSession
from provisioning.errors import AdminMissing, ConvergenceError
from provisioning.models import (
    AppRequest,
    BindingKind,
    Catalog,
    DatabaseSnapshot,
    DatabaseState,
    Engine,
    OnRemove,
    ServerInfo,
    SiteState,
    Target,
    UserAssignedIdentity,
)
from provisioning.plan import (
    DATABASE_STEPS,
    IDENTITY_STEPS,
    CreateUserIdentity,
    EnableSystemIdentity,
    IdentityStep,
    Plan,
    SetAppSettings,
    Step,
)
from provisioning.planner import Desired, Observed, plan, plan_removal
from provisioning.policy import Grantable, authorize
from provisioning.principal_names import principal_name
from provisioning.requests import is_requested, request_from_setting, request_from_tags
from provisioning.resource_ids import AppRef, is_within
from provisioning.settings import MANAGED_KEYS_SETTING, REQUEST_SETTING, parse_managed_keys

log = logging.getLogger(__name__)


class Mode(str, Enum):
    APPLY = "apply"
    PLAN = "plan"


class WebAppsPort(Protocol):
    def get_site(self, app: AppRef) -> SiteState: ...
    def list_settings(self, app: AppRef) -> dict[str, str]: ...
    def update_identities(self, site: SiteState, *, system: bool, user_assigned: tuple[str, ...]) -> SiteState: ...
    def write_settings(self, app: AppRef, current: dict[str, str], step: SetAppSettings) -> None: ...


class IdentitiesPort(Protocol):
    def get_system_client_id(self, app: AppRef) -> str: ...
    def get_user_identity(self, identity_id: str) -> UserAssignedIdentity | None: ...
    def create_user_identity(self, identity_id: str, location: str) -> UserAssignedIdentity: ...


class LocksPort(Protocol):
    def hold(self, app: AppRef, *, cause: str | None = None) -> AbstractContextManager[None]: ...
    def already_handled(self, app: AppRef, cause: str, moment: datetime | None) -> bool: ...


class ServersPort(Protocol):
    def get_server(self, engine: Engine, server: Any) -> ServerInfo: ...


SessionFactory = Callable[[Engine, ServerInfo, str], DatabaseSession]


@dataclass(frozen=True)
class ReconcileResult:
    """What happened to one app. ``plan`` is what was (or would be) applied."""

    app: AppRef
    mode: Mode
    plan: Plan
    applied: bool
    seconds: float
    database_catalog_queries: dict[str, int] = field(default_factory=dict)
    database_writes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app.id,
            "mode": self.mode.value,
            "outcome": "converged" if self.applied else ("no-op" if self.plan.empty else "planned"),
            "plan": self.plan.to_dict(),
            "seconds": round(self.seconds, 3),
            "database_writes": self.database_writes,
        }


class Reconciler:
    def __init__(
        self,
        catalog: Catalog,
        *,
        webapps: WebAppsPort,
        identities: IdentitiesPort,
        servers: ServersPort,
        open_session: SessionFactory,
        locks: LocksPort,
        function_object_id: str = "",
        tag_prefix: str = "passwordless",
    ) -> None:
        self.catalog = catalog
        self._webapps = webapps
        self._identities = identities
        self._servers = servers
        self._open_session = open_session
        self._locks = locks
        self._function_object_id = function_object_id.lower()
        self.tag_prefix = tag_prefix

    def reconcile_app(
        self, app: AppRef, mode: Mode = Mode.APPLY, *, cause: str | None = None
    ) -> ReconcileResult | None:
        """Reconcile what the app's own tags ask for (the Event Grid and audit path).

        Without a tag, a request a pipeline made (kept on the app) stands in for it; an app whose tag
        was removed but which still carries managed settings goes through removal; None when the app
        neither asks nor was ever provisioned.
        """
        with self._exclusive(app, mode, cause):
            site = self._webapps.get_site(app)
            if is_requested(site.tags, prefix=self.tag_prefix):
                return self._reconcile(request_from_tags(app, site.tags, prefix=self.tag_prefix), site, mode)
            kept = site.app_settings.get(REQUEST_SETTING)
            if kept is not None:  # provisioned by a pipeline: its request is the desired state
                return self._reconcile(request_from_setting(app, kept), site, mode)
            if parse_managed_keys(site.app_settings.get(MANAGED_KEYS_SETTING)):
                return self._remove(app, self._with_all_ids(site), mode)
            return None

    def already_handled(self, app: AppRef, cause: str, moment: datetime | None) -> bool:
        """Was this event (or everything up to ``moment``) taken in by a finished apply of the app?"""
        return self._locks.already_handled(app, cause, moment)

    def remove_app(self, app: AppRef, mode: Mode = Mode.APPLY, *, cause: str | None = None) -> ReconcileResult:
        """The app was deleted: drop its principals where the catalog says ``on_remove: revoke``."""
        with self._exclusive(app, mode, cause):
            return self._remove(app, None, mode)

    def _remove(self, app: AppRef, site: SiteState | None, mode: Mode) -> ReconcileResult:
        started = time.monotonic()
        targets = [
            t
            for t in self.catalog.targets.values()
            if t.on_remove is OnRemove.REVOKE and any(is_within(app.id, scope) for scope in t.allowed_sources)
        ]
        by_name = {t.name: t for t in targets}
        with self._sessions(targets) as sessions:

            def observe() -> dict[str, DatabaseState]:
                return {t.name: sessions.get(t).observe(t, principal_name(app, t.engine)) for t in targets}

            planned = self._render(plan_removal(app, site, targets, observe()), by_name, sessions)
            if mode is Mode.PLAN or planned.empty:
                return self._result(app, mode, planned, False, started, sessions=sessions)
            for step in planned.steps:
                if isinstance(step, SetAppSettings):
                    assert site is not None
                    self._webapps.write_settings(app, site.app_settings, step)
                elif isinstance(step, DATABASE_STEPS):
                    sessions.get(by_name[step.target]).apply(step, by_name[step.target])
            remaining = plan_removal(app, None, targets, observe())
            if not remaining.empty:
                raise ConvergenceError(f"after removal, {app.id} still plans:\n{remaining.describe()}")
            log.info("removed %s: %d step(s) applied", app.id, len(planned.steps))
            return self._result(app, mode, planned, True, started, sessions=sessions)

    def _with_all_ids(self, site: SiteState) -> SiteState:
        """Removal must recognise principals bound by client id too: read it when the app has a system id."""
        if site.system_principal_id is None or site.system_client_id is not None:
            return site
        return replace(site, system_client_id=self._identities.get_system_client_id(site.app))

    def reconcile_request(self, request: AppRequest, mode: Mode = Mode.APPLY) -> ReconcileResult:
        """Reconcile an explicit request (the pipeline path); the app's tags are not consulted."""
        with self._exclusive(request.app, mode, None):
            return self._reconcile(request, self._webapps.get_site(request.app), mode)

    def _exclusive(self, app: AppRef, mode: Mode, cause: str | None) -> AbstractContextManager[None]:
        """Applies of one app are serialized across instances, so concurrent ones cannot lose settings
        or race to create the principal; a plan changes nothing and takes no lock."""
        return self._locks.hold(app, cause=cause) if mode is Mode.APPLY else nullcontext()

    def _reconcile(
        self, request: AppRequest, site: SiteState, mode: Mode, *, shared: Sessions | None = None
    ) -> ReconcileResult:
        started = time.monotonic()
        connections = authorize(request, self.catalog)
        desired = Desired(request, connections)
        site = self._with_client_id(site, connections)
        targets = {c.target.name: c.target for c in connections}
        with self._sessions(targets.values(), shared) as sessions:
            observed = self._observe(desired, site, sessions)
            first = self._render(plan(desired, observed), targets, sessions)
            if mode is Mode.PLAN or first.empty:
                return self._result(request.app, mode, first, False, started, sessions=sessions)
            applied = self._apply(first, desired, observed, sessions)
            verify_site = self._with_client_id(self._webapps.get_site(request.app), connections)
            second = plan(desired, self._observe(desired, verify_site, sessions))
            if not second.empty:
                raise ConvergenceError(f"after apply, {request.app.id} still plans:\n{second.describe()}")
            log.info("reconciled %s: %d step(s) applied", request.app.id, len(applied.steps))
            return self._result(request.app, mode, applied, True, started, sessions=sessions)

    # -- phases ------------------------------------------------------------------------------
    def _with_client_id(self, site: SiteState, connections: tuple[Grantable, ...]) -> SiteState:
        """Read the system identity's client id, one ARM read, only when an engine binds to it."""
        needed = any(c.target.binding_kind is BindingKind.CLIENT_ID for c in connections)
        if not needed or site.system_principal_id is None or site.system_client_id is not None:
            return site
        return replace(site, system_client_id=self._identities.get_system_client_id(site.app))

    def _observe(self, desired: Desired, site: SiteState, sessions: Sessions) -> Observed:
        databases: dict[str, DatabaseState] = {}
        for connection in desired.connections:
            target = connection.target
            databases[target.name] = sessions.observe(target, principal_name(desired.request.app, target.engine))
        return Observed(site, sessions.servers, databases, self._named_identities(desired, site))

    def _named_identities(self, desired: Desired, site: SiteState) -> dict[str, UserAssignedIdentity]:
        """Read the requested user-assigned identity only when it is not attached yet (one ARM read)."""
        identity_id = desired.request.identity.resource_id_for(desired.request.app)
        if identity_id is None or site.attached(identity_id) is not None:
            return {}
        found = self._identities.get_user_identity(identity_id)
        return {identity_id.lower(): found} if found is not None else {}

    def _render(self, planned: Plan, targets: Mapping[str, Target], sessions: Sessions) -> Plan:
        rendered = {
            index: sessions.get(targets[step.target]).render(step, targets[step.target])
            for index, step in enumerate(planned.steps)
            if isinstance(step, DATABASE_STEPS)
        }
        return planned.with_sql(rendered)

    def _apply(self, first: Plan, desired: Desired, observed: Observed, sessions: Sessions) -> Plan:
        """Identity steps first; then re-plan (pure) with the identity's ids and apply the rest in order.

        Returns the plan as applied, with the ids filled in where the first plan had placeholders.
        """
        applied: list[Step] = []
        current = first
        targets = {c.target.name: c.target for c in desired.connections}
        identity_steps = [step for step in first.steps if isinstance(step, IDENTITY_STEPS)]
        if identity_steps:
            site = observed.site
            for identity_step in identity_steps:
                site = self._apply_identity(identity_step, site)
                applied.append(identity_step)
            observed = replace(observed, site=self._with_client_id(site, desired.connections))
            current = self._render(plan(desired, observed), targets, sessions)
        for step in current.steps:
            if isinstance(step, IDENTITY_STEPS):
                raise ConvergenceError(f"{first.app.id}: the identity still needs '{step.description}' after apply")
            if isinstance(step, SetAppSettings):
                self._webapps.write_settings(step.app, observed.site.app_settings, step)
            else:
                sessions.get(targets[step.target]).apply(step, targets[step.target])
            applied.append(step)
        return Plan(first.app, tuple(applied))

    def _apply_identity(self, step: IdentityStep, site: SiteState) -> SiteState:
        if isinstance(step, CreateUserIdentity):
            self._identities.create_user_identity(step.identity_id, step.location)
            return site
        if isinstance(step, EnableSystemIdentity):
            return self._webapps.update_identities(site, system=True, user_assigned=step.keep_user_assigned)
        return self._webapps.update_identities(
            site, system=step.keep_system, user_assigned=(*step.keep_user_assigned, step.identity_id)
        )

    def _result(
        self, app: AppRef, mode: Mode, planned: Plan, applied: bool, started: float, *, sessions: Sessions
    ) -> ReconcileResult:
        return ReconcileResult(
            app=app,
            mode=mode,
            plan=planned,
            applied=applied,
            seconds=time.monotonic() - started,
            database_catalog_queries=sessions.catalog_queries(),
            database_writes=sessions.writes(),
        )

    @contextmanager
    def _sessions(self, targets: Iterable[Target], shared: Sessions | None = None) -> Iterator[Sessions]:
        if shared is not None:  # a batch's sessions outlive this reconcile
            for target in targets:
                shared.open(target)
            yield shared
            return
        with ExitStack() as stack:
            sessions = Sessions(self, stack)
            for target in targets:
                sessions.open(target)
            yield sessions

    @contextmanager
    def batch(self) -> Iterator[Sessions]:
        """Sessions shared by many read-only plans (the audit): each database read once."""
        with ExitStack() as stack:
            yield Sessions(self, stack, batch=True)

    def plan_discovered(self, site: SiteState, batch: Sessions) -> ReconcileResult | None:
        """Plan an app found by discovery, whose tags and identities came with it: only its settings
        are read (the one ARM request that ARM charges as a write), and only once the request is valid
        and allowed, since a refused request does not need them."""
        if not is_requested(site.tags, prefix=self.tag_prefix):
            return None
        request = request_from_tags(site.app, site.tags, prefix=self.tag_prefix)
        authorize(request, self.catalog)
        with_settings = replace(site, app_settings=self._webapps.list_settings(site.app))
        return self._reconcile(request, with_settings, Mode.PLAN, shared=batch)

    def admin_login(self, server: ServerInfo) -> str:
        """The login of the administrator the function acts as; never replaces anyone's admin."""
        candidates = {self._function_object_id}
        if self.catalog.admin_group is not None:
            candidates.add(self.catalog.admin_group.object_id)
        for admin in server.administrators:
            if admin.object_id in candidates:
                return admin.login
        raise AdminMissing(missing_admin_message(server, self._function_object_id, self.catalog))


class Sessions:
    """One database session per server for the duration of a reconcile, or of a whole audit.

    In batch mode (the audit) each target database is read once, for every principal at once, and
    every app on it is planned from that snapshot: queries grow with databases, not with apps.
    """

    def __init__(self, owner: Reconciler, stack: ExitStack, *, batch: bool = False) -> None:
        self._owner = owner
        self._stack = stack
        self._batch = batch
        self._by_server: dict[str, DatabaseSession] = {}
        self._snapshots: dict[tuple[str, str], DatabaseSnapshot] = {}
        self.servers: dict[str, ServerInfo] = {}

    def open(self, target: Target) -> None:
        key = target.server.key
        if key in self._by_server:
            return
        server = self._owner._servers.get_server(target.engine, target.server)
        session = self._owner._open_session(target.engine, server, self._owner.admin_login(server))
        self._stack.callback(session.close)
        self._by_server[key] = session
        self.servers[key] = server

    def get(self, target: Target) -> DatabaseSession:
        return self._by_server[target.server.key]

    def observe(self, target: Target, principal: str) -> DatabaseState:
        if not self._batch:
            return self.get(target).observe(target, principal)
        return self.snapshot(target).state_of(principal)

    def snapshot(self, target: Target) -> DatabaseSnapshot:
        key = (target.server.key, target.database)
        if key not in self._snapshots:
            self.open(target)
            self._snapshots[key] = self.get(target).snapshot(target)
        return self._snapshots[key]

    def catalog_queries(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for key, session in self._by_server.items():
            for database, count in session.catalog_queries.items():
                totals[f"{self.servers[key].id.names[0]}/{database}"] = count
        return totals

    def writes(self) -> int:
        return sum(session.writes for session in self._by_server.values())


def missing_admin_message(server: ServerInfo, function_object_id: str, catalog: Catalog) -> str:
    """Name the exact command that makes the function (or its group) an administrator.

    PostgreSQL takes several Entra admins, so one is added. Azure SQL and MySQL take one: an existing
    admin is never replaced; the way in is a group admin that the function's identity is a member of.
    """
    group = catalog.admin_group
    object_id = group.object_id if group else (function_object_id or "<function identity object id>")
    name = group.name if group else "<function identity name>"
    rid = server.id
    where = f"--resource-group {rid.resource_group} --server-name {rid.names[0]}"
    lead = f"the function is not an Entra administrator of {rid.id}"
    if rid.full_type == "microsoft.dbforpostgresql/flexibleservers":
        kind = "Group" if group else "ServicePrincipal"
        return (
            f"{lead}; an owner of the server can add it (existing administrators are kept): "
            f"az postgres flexible-server microsoft-entra-admin create {where} "
            f"--display-name {name} --object-id {object_id} --type {kind}"
        )
    if server.administrators:
        current = ", ".join(admin.login for admin in server.administrators)
        return (
            f"{lead}; its administrator is {current}, and this server takes only one, which is never replaced: "
            f"add the function's identity to that group and name it as admin_group in the catalog"
        )
    arguments = f"{where} --display-name {name} --object-id {object_id}"
    if rid.full_type == "microsoft.sql/servers":
        return f"{lead}; an owner of the server can set it: az sql server ad-admin create {arguments}"
    return (
        f"{lead}; an owner of the server can set it: az mysql flexible-server ad-admin create {arguments} "
        "--identity <the server's user-assigned identity, which needs Microsoft Graph read rights>"
    )
