"""Observe what the planner needs about one app: its site, identities, servers and databases. Reads only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from provisioning.engines.dialects import dialect_for
from provisioning.errors import NotFound, PermanentError
from provisioning.models import (
    BindingKind,
    DatabaseState,
    IdentityHolder,
    RoleAssignmentState,
    SiteState,
    Target,
    UserAssignedIdentity,
)
from provisioning.planner import Desired, Observed, databases_of, identity_ids, own_identity_ids
from provisioning.ports import IdentitiesPort, IdentityHoldersPort, RoleAssignmentsPort
from provisioning.principal_names import principal_name
from provisioning.resource_ids import AppRef
from provisioning.sessions import Sessions


class Observer:
    def __init__(
        self, identities: IdentitiesPort, holders: IdentityHoldersPort, roles: RoleAssignmentsPort | None = None
    ) -> None:
        self._identities = identities
        self._holders = holders
        self._roles = roles

    def with_client_id(self, site: SiteState, targets: Iterable[Target]) -> SiteState:
        """Read the system identity's client id, one ARM read, only when the engine of a target asked for
        or dropped binds to it (a dropped target's principal is the app's own only if bound to it)."""
        needed = any(dialect_for(t.engine).binding_kind is BindingKind.CLIENT_ID for t in targets)
        return self.with_all_ids(site) if needed else site

    def with_all_ids(self, site: SiteState) -> SiteState:
        """The site with its system identity's client id too (when it has a system identity)."""
        if site.system_principal_id is None or site.system_client_id is not None:
            return site
        return replace(site, system_client_id=self._identities.get_system_client_id(site.app))

    def observe(self, desired: Desired, site: SiteState, sessions: Sessions) -> Observed:
        databases = {
            name: sessions.observe(target, principal_name(desired.request.app, target.engine))
            for name, target in databases_of(desired).items()
        }
        named = self._named_identities(desired, site)
        targets = [c.target for c in desired.connections]
        mine = own_identity_ids(site) | {i for ids in named.values() for i in (ids.principal_id, ids.client_id)}
        holders = self.binding_holders(desired.request.app, targets, databases, mine)
        return self._with_roles(desired, Observed(site, sessions.servers, databases, named, holders))

    def binding_holders(
        self, app: AppRef, targets: Iterable[Target], databases: dict[str, DatabaseState], mine: set[str]
    ) -> dict[str, tuple[IdentityHolder, ...]]:
        """Who holds each identity an observed principal is bound to, other than the app's own ones:
        a Resource Graph query per such identity, which only a rebind or a removal ever meets."""
        found: dict[str, tuple[IdentityHolder, ...]] = {}
        for target in targets:
            principal = databases[target.name].principal
            bound_to = (principal.binding or "").lower() if principal is not None else ""
            if bound_to and bound_to not in mine and bound_to not in found:
                kind = dialect_for(target.engine).binding_kind
                found[bound_to] = self._holders.list_holders(bound_to, kind=kind, app=app)
        return found

    def _with_roles(self, desired: Desired, observed: Observed) -> Observed:
        """The role assignments of the app's identities (one ARM list per identity and subscription of the
        RBAC targets asked for or dropped, whatever their number): the one it uses, and those it has and
        no longer uses, which keep nothing made for it. And the endpoints of the asked targets' resources
        (cached by the adapter)."""
        if not desired.rbac and not desired.dropped_rbac:
            return observed
        if self._roles is None:
            raise PermanentError("RBAC targets are requested but no role-assignment client is configured")
        identity = identity_ids(desired, observed)
        site = observed.site
        principals = {i.principal_id.lower() for i in site.user_assigned.values()} | {
            (p or "").lower() for p in (site.system_principal_id, identity.principal_id if identity else None)
        }
        targets = [*(g.target for g in desired.rbac), *desired.dropped_rbac]
        assignments: tuple[RoleAssignmentState, ...] = ()
        for subscription in sorted({t.resource.subscription.lower() for t in targets}):
            for principal in sorted(principals - {""}):
                assignments += self._roles.list_for_principal(subscription, principal)
        endpoints = {g.target.name: self._roles.get_endpoint(g.target) for g in desired.rbac}
        return replace(observed, assignments=assignments, endpoints=endpoints)

    def _named_identities(self, desired: Desired, site: SiteState) -> dict[str, UserAssignedIdentity]:
        """Read the requested user-assigned identity only when it is not attached yet (one ARM read)."""
        identity_id = desired.request.identity.resource_id_for(desired.request.app)
        if identity_id is None or site.attached(identity_id) is not None:
            return {}
        try:
            found = self._identities.get_user_identity(identity_id)
        except NotFound:
            return {}  # the planner creates it (``create:<name>``) or refuses the request
        return {identity_id.lower(): found}
