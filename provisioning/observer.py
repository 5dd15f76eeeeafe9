"""Observe what the planner needs about one app: its site, identities, servers and databases. Reads only."""

from __future__ import annotations

from dataclasses import replace

from provisioning.engines.dialects import dialect_for
from provisioning.errors import NotFound
from provisioning.models import BindingKind, SiteState, UserAssignedIdentity
from provisioning.planner import Desired, Observed
from provisioning.policy import Grantable
from provisioning.ports import IdentitiesPort
from provisioning.principal_names import principal_name
from provisioning.sessions import Sessions


class Observer:
    def __init__(self, identities: IdentitiesPort) -> None:
        self._identities = identities

    def with_client_id(self, site: SiteState, connections: tuple[Grantable, ...]) -> SiteState:
        """Read the system identity's client id, one ARM read, only when an engine binds to it."""
        needed = any(dialect_for(c.target.engine).binding_kind is BindingKind.CLIENT_ID for c in connections)
        return self.with_all_ids(site) if needed else site

    def with_all_ids(self, site: SiteState) -> SiteState:
        """The site with its system identity's client id too (when it has a system identity)."""
        if site.system_principal_id is None or site.system_client_id is not None:
            return site
        return replace(site, system_client_id=self._identities.get_system_client_id(site.app))

    def observe(self, desired: Desired, site: SiteState, sessions: Sessions) -> Observed:
        databases = {
            c.target.name: sessions.observe(c.target, principal_name(desired.request.app, c.target.engine))
            for c in desired.connections
        }
        return Observed(site, sessions.servers, databases, self._named_identities(desired, site))

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
