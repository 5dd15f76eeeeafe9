"""Database sessions for one reconcile, or shared by a whole audit: one per server, as its admin."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager

from provisioning.admins import admin_login
from provisioning.engines.base import DatabaseSession
from provisioning.errors import AdminMissing, LoginRefused
from provisioning.models import Catalog, DatabaseSnapshot, DatabaseState, ServerInfo, Target
from provisioning.plan import DATABASE_STEPS, Plan
from provisioning.ports import ServersPort, SessionFactory


class DatabaseAccess:
    """Opens sessions on catalog servers as the administrator the function is there."""

    def __init__(
        self, catalog: Catalog, *, servers: ServersPort, open_session: SessionFactory, function_object_id: str
    ) -> None:
        self._catalog = catalog
        self._servers = servers
        self._open_session = open_session
        self._function_object_id = function_object_id

    @contextmanager
    def sessions(self, targets: Iterable[Target], shared: Sessions | None = None) -> Iterator[Sessions]:
        """Sessions for these targets, closed at the end; or a batch's, which outlive this use."""
        if shared is not None:
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

    def connect(self, target: Target) -> tuple[ServerInfo, DatabaseSession]:
        """A session as the function's administrator login. Servers' administrators are cached, so a
        server that seems to lack it is read afresh once: an owner may have just added it."""
        server = self._servers.get_server(target.engine, target.server)
        try:
            login = self._admin_login(target, server)
        except AdminMissing:
            self._servers.forget(target.server)
            server = self._servers.get_server(target.engine, target.server)
            login = self._admin_login(target, server)
        return server, self._open_session(target.engine, server, login)

    def forget(self, target: Target) -> None:
        """Drop the cached facts of the target's server, so the next use reads them afresh."""
        self._servers.forget(target.server)

    def _admin_login(self, target: Target, server: ServerInfo) -> str:
        return admin_login(
            target.engine, server, function_object_id=self._function_object_id, group=self._catalog.admin_group
        )


class Sessions:
    """One database session per server for the duration of a reconcile, or of a whole audit.

    In batch mode (the audit) each target database is read once, for every principal at once, and
    every app on it is planned from that snapshot: queries grow with databases, not with apps.
    """

    def __init__(self, access: DatabaseAccess, stack: ExitStack, *, batch: bool = False) -> None:
        self._access = access
        self._stack = stack
        self._batch = batch
        self._by_server: dict[str, DatabaseSession] = {}
        self._snapshots: dict[tuple[str, str], DatabaseSnapshot] = {}
        self.servers: dict[str, ServerInfo] = {}

    def open(self, target: Target) -> None:
        key = target.server.key
        if key in self._by_server:
            return
        server, session = self._access.connect(target)
        self._stack.callback(session.close)
        self._by_server[key] = session
        self.servers[key] = server

    def get(self, target: Target) -> DatabaseSession:
        return self._by_server[target.server.key]

    def observe(self, target: Target, principal: str) -> DatabaseState:
        if not self._batch:
            with self._forgotten_if_refused(target):
                return self.get(target).observe(target, principal)
        return self.snapshot(target).state_of(principal)

    def snapshot(self, target: Target) -> DatabaseSnapshot:
        key = (target.server.key, target.database)
        if key not in self._snapshots:
            self.open(target)
            with self._forgotten_if_refused(target):
                self._snapshots[key] = self.get(target).snapshot(target)
        return self._snapshots[key]

    @contextmanager
    def _forgotten_if_refused(self, target: Target) -> Iterator[None]:
        """Every reconcile observes before it writes, so the first login happens here: when the server
        refuses it, its cached administrators are dropped and the next attempt reads them afresh."""
        try:
            yield
        except LoginRefused:
            self._access.forget(target)
            raise

    def render(self, planned: Plan, targets: Mapping[str, Target]) -> Plan:
        """The plan with each database step's exact SQL (the dry-run view)."""
        rendered = {
            index: self.get(targets[step.target]).render(step, targets[step.target])
            for index, step in enumerate(planned.steps)
            if isinstance(step, DATABASE_STEPS)
        }
        return planned.with_sql(rendered)

    def catalog_queries(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for key, session in self._by_server.items():
            for database, count in session.catalog_queries.items():
                totals[f"{self.servers[key].id.names[0]}/{database}"] = count
        return totals

    def writes(self) -> int:
        return sum(session.writes for session in self._by_server.values())
