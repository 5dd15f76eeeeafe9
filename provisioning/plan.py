"""Plan steps and the Plan: ordered, immutable, printable and JSON-able data."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from provisioning.models import BindingKind, Grant, SkippedEntry
from provisioning.rbac_roles import role_label
from provisioning.resource_ids import AppRef

BINDING_PLACEHOLDER = "<id known after the identity is enabled>"


@dataclass(frozen=True)
class EnableSystemIdentity:
    """Turn the app's system identity on, keeping every user-assigned identity attached."""

    app: AppRef
    keep_user_assigned: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        kept = f", keeping {len(self.keep_user_assigned)} user-assigned" if self.keep_user_assigned else ""
        return f"enable the system-assigned identity of {self.app.display_name}{kept}"


@dataclass(frozen=True)
class CreateUserIdentity:
    """Create the user-assigned identity a ``create:<name>`` tag asks for, in the app's resource group."""

    app: AppRef
    identity_id: str
    location: str

    @property
    def description(self) -> str:
        return f"create user-assigned identity {self.identity_id.rsplit('/', 1)[-1]} in {self.app.resource_group}"


@dataclass(frozen=True)
class AttachUserIdentity:
    """Attach a user-assigned identity, keeping the system identity and every other one attached."""

    app: AppRef
    identity_id: str
    keep_system: bool
    keep_user_assigned: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        kept = " and the system identity" if self.keep_system else ""
        return (
            f"attach user-assigned identity {self.identity_id.rsplit('/', 1)[-1]} to {self.app.display_name}, "
            f"keeping {len(self.keep_user_assigned)} other user-assigned{kept}"
        )


@dataclass(frozen=True)
class CreatePrincipal:
    """Create a database principal bound to exactly one Entra identity."""

    target: str
    principal: str
    binding: str | None
    binding_kind: BindingKind = BindingKind.OBJECT_ID
    object_id: str | None = None  # for engines that create by object id but show the client id (SQL)
    sql: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        bound_to = self.binding or BINDING_PLACEHOLDER
        return f"create principal {self.principal!r} on {self.target} bound to {self.binding_kind.value} {bound_to}"


@dataclass(frozen=True)
class RebindPrincipal:
    """Retire a principal bound to another (usually deleted) identity and create it for this one; what
    the old one owned passes to the new one where the engine retires by reassigning."""

    target: str
    principal: str
    old_binding: str | None
    binding: str | None
    binding_kind: BindingKind = BindingKind.OBJECT_ID
    object_id: str | None = None
    sql: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        return (
            f"rebind principal {self.principal!r} on {self.target} from {self.binding_kind.value} "
            f"{self.old_binding} to {self.binding or BINDING_PLACEHOLDER}"
        )


@dataclass(frozen=True)
class DropPrincipal:
    """Retire the principal of an app that is gone or no longer asks (``on_remove: revoke``).

    ``successor``: the role that takes over what the principal owns, where the engine retires by
    reassigning (PostgreSQL: the catalog's owner role), so an app's data is never dropped with it."""

    target: str
    principal: str
    successor: str | None = None
    sql: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        handover = f", handing what it owns to {self.successor!r}" if self.successor else ""
        return f"drop principal {self.principal!r} and its privileges on {self.target}{handover}"


@dataclass(frozen=True)
class GrantPrivileges:
    target: str
    principal: str
    grants: tuple[Grant, ...]
    sql: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        return f"grant {privileges_summary(self.grants)} to {self.principal!r} on {self.target}"


@dataclass(frozen=True)
class RevokePrivileges:
    target: str
    principal: str
    grants: tuple[Grant, ...]
    sql: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        return f"revoke {privileges_summary(self.grants)} from {self.principal!r} on {self.target}"


def privileges_summary(grants: tuple[Grant, ...]) -> str:
    """What is granted on what, per kind of object (``SELECT, INSERT on 3 table(s)``). Not a count of
    grants: engines fold several grants into one statement, so a count would not match the SQL shown."""
    by_kind: dict[str, tuple[set[str], set[tuple[str, ...]]]] = {}
    for grant in grants:
        privileges, objects = by_kind.setdefault(grant.object_kind, (set(), set()))
        privileges.add(grant.privilege)
        objects.add(grant.object_name)
    return "; ".join(
        f"{', '.join(sorted(privileges))} on "
        + (f"{kind} {'.'.join(next(iter(objects)))}" if len(objects) == 1 else f"{len(objects)} {kind}s")
        for kind, (privileges, objects) in sorted(by_kind.items())
    )


@dataclass(frozen=True)
class PlainNamesMove:
    """An engine's plain setting names (``AZURE_POSTGRESQL_CONNECTIONSTRING``...) pass to another
    target: the one that had them is no longer requested. Said aloud, since the app reads them."""

    prefix: str
    old_target: str
    new_target: str

    @property
    def description(self) -> str:
        return f"the plain {self.prefix}_* names move from target {self.old_target} to {self.new_target}"


@dataclass(frozen=True)
class SetAppSettings:
    """Merge managed settings into the app's settings; every other setting stays as it was."""

    app: AppRef
    set: tuple[tuple[str, str], ...]
    remove: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()  # keys of ``set`` the app does not have at all (versus changed)
    plain_names_moved: tuple[PlainNamesMove, ...] = ()

    @property
    def description(self) -> str:
        parts = [move.description for move in self.plain_names_moved]
        if self.set:
            parts.append("set " + ", ".join(key for key, _ in self.set))
        if self.remove:
            parts.append("remove " + ", ".join(self.remove))
        return f"app settings of {self.app.display_name}: " + "; ".join(parts)


@dataclass(frozen=True)
class AssignRole:
    """Create a role assignment for the app's identity at one catalog scope (``principalType`` set)."""

    target: str
    scope: str
    role: str  # role definition id
    principal_id: str | None  # None until the identity is enabled
    name: str  # the deterministic GUID (see engines.rbac.assignment_name)
    note: str = ""  # the assignment's description in Azure

    @property
    def description(self) -> str:
        return (
            f"assign {role_label(self.role)} to {self.principal_id or BINDING_PLACEHOLDER} "
            f"at {self.scope} ({self.target})"
        )


@dataclass(frozen=True)
class RevokeRole:
    """Delete a role assignment this product made that the request no longer asks for."""

    target: str
    scope: str
    role: str
    name: str

    @property
    def description(self) -> str:
        return f"revoke {role_label(self.role)} at {self.scope} ({self.target}): no longer requested"


@dataclass(frozen=True)
class SetKeyVaultReferenceIdentity:
    """Make App Service resolve the app's Key Vault references with its user-assigned identity
    (``keyVaultReferenceIdentity``; by default App Service uses the system identity)."""

    app: AppRef
    identity_id: str

    @property
    def description(self) -> str:
        return f"resolve Key Vault references of {self.app.display_name} with {self.identity_id.rsplit('/', 1)[-1]}"


IdentityStep = EnableSystemIdentity | CreateUserIdentity | AttachUserIdentity
DatabaseStep = CreatePrincipal | RebindPrincipal | GrantPrivileges | RevokePrivileges | DropPrincipal
RoleStep = AssignRole | RevokeRole
Step = IdentityStep | DatabaseStep | RoleStep | SetKeyVaultReferenceIdentity | SetAppSettings
IDENTITY_STEPS = (EnableSystemIdentity, CreateUserIdentity, AttachUserIdentity)
DATABASE_STEPS = (CreatePrincipal, RebindPrincipal, GrantPrivileges, RevokePrivileges, DropPrincipal)
ROLE_STEPS = (AssignRole, RevokeRole)


@dataclass(frozen=True)
class Plan:
    """``unrequested_identities``: user-assigned identities the provisioner attached that the request no
    longer names. They are reported, never detached (detaching can cut an app off mid-flight), so they
    are no step and leave an otherwise empty plan empty."""

    app: AppRef
    steps: tuple[Step, ...] = field(default=())
    unrequested_identities: tuple[str, ...] = ()
    skipped: tuple[SkippedEntry, ...] = ()  # request entries left out (malformed or denied), reported
    unrequested_targets: tuple[str, ...] = ()  # provisioned targets the request dropped, being retired

    @property
    def empty(self) -> bool:
        return not self.steps

    def with_sql(self, rendered: dict[int, tuple[str, ...]]) -> Plan:
        """Attach rendered SQL to database steps, by step position."""
        steps = tuple(
            replace(step, sql=rendered[i]) if i in rendered and isinstance(step, DATABASE_STEPS) else step
            for i, step in enumerate(self.steps)
        )
        return replace(self, steps=steps)

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"app": self.app.id, "steps": [step_to_dict(step) for step in self.steps]}
        if self.unrequested_identities:
            document["unrequested_identities"] = list(self.unrequested_identities)
        if self.skipped:
            document["skipped"] = [{"entry": e.entry, "reason": e.reason, "denied": e.denied} for e in self.skipped]
        return document

    def describe(self) -> str:
        if not self.steps:
            return f"{self.app.display_name}: nothing to do"
        lines = [f"{self.app.display_name}: {len(self.steps)} step(s)"]
        for number, step in enumerate(self.steps, start=1):
            lines.append(f"  {number}. {step.description}")
            lines.extend(f"       {statement}" for statement in getattr(step, "sql", ()))
        return "\n".join(lines)


def step_to_dict(step: Step) -> dict[str, Any]:
    data: dict[str, Any] = {"step": type(step).__name__, "description": step.description}
    if isinstance(step, SetAppSettings):
        data["set"] = dict(step.set)
        data["remove"] = list(step.remove)
        data["plain_names_moved"] = [
            {"prefix": move.prefix, "from": move.old_target, "to": move.new_target} for move in step.plain_names_moved
        ]
    elif isinstance(step, DATABASE_STEPS):
        data["target"] = step.target
        data["principal"] = step.principal
        data["sql"] = list(step.sql)
    elif isinstance(step, ROLE_STEPS):
        data["target"] = step.target
        data["scope"] = step.scope
        data["role"] = step.role
        data["assignment"] = step.name
    return data
