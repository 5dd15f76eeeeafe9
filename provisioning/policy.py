"""May this app have this target with this role, and this identity? Pure: the catalog decides, never
the tag alone. A refusal names the entry asked for and the reason, never the rest of the catalog: a
caller may not learn which targets or identities exist for other teams. So "not in the catalog" and
"not offered to your scope" are one refusal: two would let a caller probe names until one exists."""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.errors import PolicyViolation
from provisioning.models import AppRequest, Catalog, IdentityKind, RoleProfile, SkippedEntry, Target
from provisioning.rbac_targets import RbacTarget
from provisioning.resource_ids import is_within


@dataclass(frozen=True)
class Grantable:
    """A requested connection the catalog allows: the target and the profile to grant."""

    target: Target
    profile: RoleProfile


@dataclass(frozen=True)
class RbacGrant:
    """A requested RBAC connection the catalog allows: the target, the profile and its role."""

    target: RbacTarget
    profile: str
    role: str  # role definition id


def authorize(request: AppRequest, catalog: Catalog) -> tuple[Grantable, ...]:
    """Resolve every connection of the request, or refuse the whole request with the reason.

    Database connections come back; RBAC ones are checked here too and resolved by ``authorize_rbac``.
    """
    authorize_identity(request, catalog)
    allowed: list[Grantable] = []
    authorize_rbac(request, catalog)
    for connection in request.connections:
        if connection.target in catalog.rbac_targets:
            continue
        target = catalog.targets.get(connection.target)
        if target is None or not any(is_within(request.app.id, scope) for scope in target.allowed_sources):
            raise PolicyViolation(
                f"target {connection.target!r} is not offered to app {request.app.id} "
                f"(not in the catalog, or the app is outside its allowed sources)"
            )
        if connection.role not in target.roles:  # the app may connect: it may learn the roles offered
            raise PolicyViolation(
                f"role {connection.role!r} is not offered on target {target.name!r} (offered: {sorted(target.roles)})"
            )
        allowed.append(Grantable(target=target, profile=catalog.profiles[connection.role]))
    return tuple(allowed)


def authorize_entries(request: AppRequest, catalog: Catalog) -> tuple[tuple[Grantable, ...], tuple[SkippedEntry, ...]]:
    """The entries the catalog allows, and each refused one with the reason (a tag: the allowed ones
    still converge). The identity, and a request with nothing allowed, are refused whole."""
    authorize_identity(request, catalog)
    allowed: list[Grantable] = []
    refused: list[SkippedEntry] = []
    roles = 0  # RBAC entries allowed (resolved by ``authorize_rbac``)
    for connection in request.connections:
        try:
            allowed += authorize(AppRequest(request.app, (connection,)), catalog)
        except PolicyViolation as exc:
            refused.append(SkippedEntry(f"{connection.target}:{connection.role}", str(exc), True, connection.target))
        else:
            roles += connection.target in catalog.rbac_targets
    if not allowed and not roles:
        raise PolicyViolation(refused[0].reason if refused else "the request asks for no connection")
    return tuple(allowed), tuple(refused)


def authorize_identity(request: AppRequest, catalog: Catalog) -> None:
    """A user-assigned identity named by resource id must be offered by the catalog to the app's scope.

    The function may attach any identity it can reach (Managed Identity Operator on their resource
    groups), so this check is what keeps one team's tag from wearing another team's identity.
    ``create:<name>`` identities live in the app's own resource group; the planner refuses to adopt
    one that was not created for the app (its passwordless-owner tag)."""
    spec = request.identity
    if spec.kind is not IdentityKind.USER:
        return
    assert spec.resource_id is not None
    offered = catalog.identities.get(spec.resource_id.lower())
    if offered is None or not any(is_within(request.app.id, scope) for scope in offered.allowed_sources):
        raise PolicyViolation(
            f"user-assigned identity {spec.resource_id} is not offered to app {request.app.id} "
            "(not in the catalog's identities, or the app is outside its allowed sources)"
        )


def authorize_rbac(request: AppRequest, catalog: Catalog) -> tuple[RbacGrant, ...]:
    """The request's connections to RBAC targets, each allowed by the catalog, or the refusal."""
    allowed: list[RbacGrant] = []
    for connection in request.connections:
        target = catalog.rbac_targets.get(connection.target)
        if target is None:
            continue
        if not any(is_within(request.app.id, scope) for scope in target.allowed_sources):
            raise PolicyViolation(f"app {request.app.id} is outside the allowed sources of target {target.name!r}")
        if connection.role not in target.roles:  # the app may connect: it may learn the roles offered
            raise PolicyViolation(
                f"role {connection.role!r} is not offered on target {target.name!r} (offered: {sorted(target.roles)})"
            )
        allowed.append(RbacGrant(target=target, profile=connection.role, role=target.roles[connection.role]))
    return tuple(allowed)
