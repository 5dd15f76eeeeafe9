"""RBAC targets as an engine: which role assignments an app should hold, which of the ones it holds
this product made, and the diff between the two. Pure.

An assignment this product makes is named deterministically from (scope, principal, role): a name is
a GUID of the caller's choosing (RoleAssignments_Create), so the same request always names the same
assignment, and an assignment whose name is that GUID was made here. A person in the portal gets a
random name, so theirs are never taken for ours and never revoked. Only the catalog's scopes are
ever assigned.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence

from provisioning.models import RoleAssignmentState
from provisioning.plan import BINDING_PLACEHOLDER, AssignRole, RevokeRole
from provisioning.policy import RbacGrant
from provisioning.resource_ids import AppRef

ASSIGNMENT_NAMESPACE = uuid.UUID("0d6a3c1e-2b4f-4e8a-9c7d-5f1e2a3b4c5d")
NOTE_PREFIX = "Passwordless Provisioner:"


def assignment_name(scope: str, principal_id: str, role: str) -> str:
    """The GUID this product names an assignment of ``role`` to ``principal_id`` at ``scope`` with."""
    return str(uuid.uuid5(ASSIGNMENT_NAMESPACE, f"{scope.rstrip('/').lower()}|{principal_id.lower()}|{role.lower()}"))


def is_ours(assignment: RoleAssignmentState) -> bool:
    return assignment.name.lower() == assignment_name(assignment.scope, assignment.principal_id, assignment.role)


def note_for(app: AppRef, target: str) -> str:
    """The assignment's description: which app and target it serves, for people and for the audit."""
    return f"{NOTE_PREFIX} {app.id} -> {target}"


def app_of_note(description: str | None) -> str | None:
    """The app id an assignment of ours was made for (None when the description is not ours)."""
    made_for = _note_parts(description)
    return made_for[0].lower() if made_for else None


def target_of_note(description: str | None) -> str | None:
    """The catalog target an assignment of ours was made for (None when the description is not ours)."""
    made_for = _note_parts(description)
    return made_for[1] if made_for else None


def _note_parts(description: str | None) -> tuple[str, str] | None:
    if not description or not description.startswith(NOTE_PREFIX):
        return None
    app, arrow, target = description[len(NOTE_PREFIX) :].strip().rpartition(" -> ")
    return (app, target) if arrow else None


def plan_roles(
    app: AppRef,
    principal_id: str | None,
    grants: Sequence[RbacGrant],
    held: Iterable[RoleAssignmentState],
    scope_names: Mapping[str, str],
    *,
    kept_scopes: frozenset[str] | None = frozenset(),
    kept_targets: frozenset[str] = frozenset(),
) -> list[AssignRole | RevokeRole]:
    """Assign what is missing, then revoke what this product made and the request no longer asks,
    and what it made for the app on another of the app's identities (the role follows the identity
    the app uses, as a database principal is rebound).

    ``held`` are the assignments of the app's identities as ARM lists them; ``scope_names`` names the
    catalog target of each scope (lower-case), for the description of a revocation. Skipped entries keep
    their assignments as they are: those at ``kept_scopes`` (lower-case), and those whose description
    names one of ``kept_targets`` (lower-case target names). ``kept_scopes`` None: a skipped entry names
    a target the catalog no longer has, so only what was made for another, named target may go.
    """
    current = (principal_id or "").lower()
    mine = [a for a in held if principal_id is not None and a.principal_id.lower() == current]
    elsewhere = [a for a in held if a.principal_id.lower() != current and app_of_note(a.description) == app.key]
    present = {(a.scope.rstrip("/").lower(), a.role) for a in mine}
    wanted: dict[tuple[str, str], tuple[RbacGrant, str]] = {}
    for grant in grants:
        for scope in grant.target.scopes:
            wanted.setdefault((scope.lower(), grant.role), (grant, scope))
    steps: list[AssignRole | RevokeRole] = []
    for (scope_key, role), (grant, scope) in sorted(wanted.items()):
        if (scope_key, role) in present:
            continue
        steps.append(
            AssignRole(
                target=grant.target.name,
                scope=scope,
                role=role,
                principal_id=principal_id,
                name=assignment_name(scope, principal_id, role) if principal_id else BINDING_PLACEHOLDER,
                note=note_for(app, grant.target.name),
            )
        )
    for assignment in sorted(mine + elsewhere, key=lambda a: (a.scope.lower(), a.role, a.principal_id)):
        key = (assignment.scope.rstrip("/").lower(), assignment.role)
        if _kept(assignment, kept_scopes, kept_targets):
            continue
        if (key not in wanted or assignment in elsewhere) and is_ours(assignment):
            target = scope_names.get(key[0], "a target no longer in the catalog")
            steps.append(RevokeRole(target=target, scope=assignment.scope, role=assignment.role, name=assignment.name))
    return steps


def _kept(assignment: RoleAssignmentState, kept_scopes: frozenset[str] | None, kept_targets: frozenset[str]) -> bool:
    """Whether a skipped entry may still hold this assignment, so it is left as it is."""
    made_for = target_of_note(assignment.description)
    if made_for is not None and made_for.lower() in kept_targets:
        return True
    if kept_scopes is None:  # the skipped entry's scope is unknown: keep what no description places
        return made_for is None
    return assignment.scope.rstrip("/").lower() in kept_scopes
