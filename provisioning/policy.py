"""May this app have this target with this role? Pure: the catalog decides, never the tag alone."""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.errors import PolicyViolation
from provisioning.models import AppRequest, Catalog, RoleProfile, Target
from provisioning.resource_ids import is_within


@dataclass(frozen=True)
class Grantable:
    """A requested connection the catalog allows: the target and the profile to grant."""

    target: Target
    profile: RoleProfile


def authorize(request: AppRequest, catalog: Catalog) -> tuple[Grantable, ...]:
    """Resolve every connection of the request, or refuse the whole request with the reason."""
    allowed: list[Grantable] = []
    for connection in request.connections:
        target = catalog.targets.get(connection.target)
        if target is None:
            raise PolicyViolation(
                f"target {connection.target!r} is not in the catalog (known: {sorted(catalog.targets)})"
            )
        if connection.role not in target.roles:
            raise PolicyViolation(
                f"role {connection.role!r} is not offered on target {target.name!r} (offered: {sorted(target.roles)})"
            )
        if not any(is_within(request.app.id, scope) for scope in target.allowed_sources):
            raise PolicyViolation(f"app {request.app.id} is outside the allowed sources of target {target.name!r}")
        allowed.append(Grantable(target=target, profile=catalog.profiles[connection.role]))
    return tuple(allowed)
