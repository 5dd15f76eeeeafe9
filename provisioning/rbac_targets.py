"""Catalog targets reached through Azure RBAC: Storage, Key Vault and Service Bus, each at the narrowest
scope Azure allows a data-plane role to be assigned. Parsed and validated here; pure.

Scopes: a blob container, a queue, a vault or single secrets in it, a Service Bus queue or topic.
"Assign an Azure role for access to blob data" and its queue twin name the container and the queue as
the narrowest scopes; Key Vault's RBAC guide allows a role on one secret; Service Bus allows a queue,
topic or subscription ("Authenticate and authorize an application with Microsoft Entra ID to access
Azure Service Bus entities"), all on learn.microsoft.com.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.errors import FieldErrors, InvalidRequest
from provisioning.models import OnRemove
from provisioning.rbac_roles import BUILT_IN_ROLES, DEFAULT_ROLES, RbacKind
from provisioning.resource_ids import ResourceId, parse_resource_id

TARGET_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # every catalog target's name, database or RBAC
RBAC_FIELDS = {"name", "kind", "resource", "roles", "allowed_sources", "secrets", "setting", "on_remove"}
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SETTING = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")  # Key Vault object names: letters, digits, dashes

# kind -> (ARM type of the narrowest scope, number of names in its id)
RESOURCE_TYPES: dict[RbacKind, tuple[tuple[str, int], ...]] = {
    RbacKind.STORAGE_BLOB: (("microsoft.storage/storageaccounts/blobservices/containers", 3),),
    RbacKind.STORAGE_QUEUE: (("microsoft.storage/storageaccounts/queueservices/queues", 3),),
    RbacKind.KEYVAULT_SECRETS: (("microsoft.keyvault/vaults", 1),),
    RbacKind.KEYVAULT_REFERENCE: (("microsoft.keyvault/vaults/secrets", 2),),
    RbacKind.SERVICEBUS: (("microsoft.servicebus/namespaces/queues", 2), ("microsoft.servicebus/namespaces/topics", 2)),
}


@dataclass(frozen=True)
class RbacTarget:
    """One resource the platform team offers through a role assignment, and who may ask for it."""

    name: str
    kind: RbacKind
    resource: ResourceId
    roles: Mapping[str, str]  # profile -> role definition id (lower-case guid)
    allowed_sources: tuple[str, ...]
    secrets: tuple[str, ...] = ()  # keyvault-secrets: only these secrets (empty: the whole vault)
    setting: str | None = None  # keyvault-reference: the app setting that holds the reference
    on_remove: OnRemove = OnRemove.REPORT

    @property
    def scopes(self) -> tuple[str, ...]:
        """Where the role is assigned: the resource itself, or each named secret of a vault."""
        if self.secrets:
            return tuple(f"{self.resource.id}/secrets/{secret}" for secret in self.secrets)
        return (self.resource.id,)

    @property
    def account(self) -> ResourceId:
        """The top resource (storage account, vault, namespace) whose ARM answer names the endpoint."""
        return ResourceId(
            self.resource.subscription,
            self.resource.resource_group,
            self.resource.provider,
            self.resource.types[:1],
            self.resource.names[:1],
        )


def is_rbac_entry(raw: Any) -> bool:
    """A catalog entry with ``kind`` (instead of ``engine``) is an RBAC target."""
    return isinstance(raw, dict) and "kind" in raw


def rbac_target(raw: dict[str, Any], index: int) -> RbacTarget:
    """Validate one catalog entry of an RBAC kind; every error names the entry and the field, and every
    field is checked (``InvalidRequest.also`` carries the errors after the first)."""
    where = f"catalog.targets[{index}]"
    errors = FieldErrors()
    unknown = set(raw) - RBAC_FIELDS
    if unknown:
        errors.add(InvalidRequest(f"{where}: unknown field(s) {sorted(map(str, unknown))}", field=where))
    name = raw.get("name")
    if isinstance(name, str):
        where = f"catalog.targets[{name}]"
    kinds = [k.value for k in RbacKind]
    kind = RbacKind(raw["kind"]) if raw.get("kind") in kinds else None
    if kind is None:
        errors.add(InvalidRequest(f"{where}.kind: {raw.get('kind')!r} is not one of {kinds}", field=f"{where}.kind"))
    resource = errors.check(lambda: _resource(raw.get("resource"), kind, where))
    secrets = errors.check(lambda: _secrets(raw.get("secrets"), kind, where)) if kind is not None else ()
    setting = raw.get("setting")
    if kind is RbacKind.KEYVAULT_REFERENCE:
        if not isinstance(setting, str) or not _SETTING.match(setting):
            errors.add(
                InvalidRequest(
                    f"{where}.setting: the app setting name that holds the Key Vault reference (letters, digits, _)",
                    field=f"{where}.setting",
                )
            )
    elif kind is not None and setting is not None:
        errors.add(
            InvalidRequest(f"{where}.setting: only keyvault-reference targets take one", field=f"{where}.setting")
        )
    on_remove = raw.get("on_remove", OnRemove.REPORT.value)
    if on_remove not in [o.value for o in OnRemove]:
        errors.add(
            InvalidRequest(f"{where}.on_remove: {on_remove!r} is not report or revoke", field=f"{where}.on_remove")
        )
    roles = errors.check(lambda: _roles(raw.get("roles"), kind, where)) if kind is not None else None
    sources = errors.check(lambda: _sources(raw.get("allowed_sources"), where))
    if not isinstance(name, str) or not TARGET_NAME.match(name):
        named = f"catalog.targets[{index}].name"
        errors.add(
            InvalidRequest(
                f"{named}: {str(name)!r} must be lower-case letters, digits, '-' or '_', starting with a letter",
                field=named,
            )
        )
    errors.raise_any()
    assert isinstance(name, str) and kind is not None and resource is not None  # checked above
    assert secrets is not None and roles is not None and sources is not None
    return RbacTarget(
        name=name,
        kind=kind,
        resource=resource,
        roles=roles,
        allowed_sources=sources,
        secrets=secrets,
        setting=setting,
        on_remove=OnRemove(on_remove),
    )


def _resource(text: Any, kind: RbacKind | None, where: str) -> ResourceId:
    """The ARM id of the narrowest scope; its type is judged only when the kind is known."""
    if not isinstance(text, str):
        label = kind.value if kind is not None else "resource"
        raise InvalidRequest(f"{where}.resource: the ARM id of the {label} is required", field=f"{where}.resource")
    resource = parse_resource_id(text, field=f"{where}.resource")
    allowed = RESOURCE_TYPES[kind] if kind is not None else ()
    if kind is not None and (resource.full_type, len(resource.names)) not in allowed:
        expected = " or ".join(t for t, _ in allowed)
        raise InvalidRequest(
            f"{where}.resource: a {kind.value} target is a {expected}, got {resource.full_type}",
            field=f"{where}.resource",
        )
    return resource


def _roles(raw: Any, kind: RbacKind, where: str) -> dict[str, str]:
    """``[profile, ...]`` takes each profile's default role; ``{profile: role name or id}`` names them."""
    defaults = DEFAULT_ROLES[kind]
    if isinstance(raw, list) and raw and all(isinstance(p, str) for p in raw):
        unknown = [p for p in raw if p not in defaults]
        if unknown:
            raise InvalidRequest(
                f"{where}.roles: {unknown} have no default role for {kind.value} (known: {sorted(defaults)}); "
                "map a profile to a role name or role definition id instead",
                field=f"{where}.roles",
            )
        return {p: BUILT_IN_ROLES[defaults[p]] for p in raw}
    if isinstance(raw, dict) and raw:
        roles = {}
        for profile, role in raw.items():
            if not isinstance(profile, str) or not isinstance(role, str):
                raise InvalidRequest(f"{where}.roles: profile and role must be strings", field=f"{where}.roles")
            role_id = BUILT_IN_ROLES.get(role, role.strip().lower())
            if not _GUID.match(role_id):
                raise InvalidRequest(
                    f"{where}.roles.{profile}: {role!r} is neither a built-in data role this product knows "
                    f"({sorted(BUILT_IN_ROLES)}) nor a role definition id",
                    field=f"{where}.roles",
                )
            roles[profile] = role_id
        return roles
    raise InvalidRequest(
        f"{where}.roles: a list of profiles ({sorted(defaults)}) or a mapping of profile to role is required",
        field=f"{where}.roles",
    )


def _sources(raw: Any, where: str) -> tuple[str, ...]:
    """ARM scopes whose apps may ask (two-sided consent, as for database targets)."""
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(s, str) and s.strip().lower().startswith("/subscriptions/") for s in raw)
    ):
        raise InvalidRequest(
            f"{where}.allowed_sources: list the subscriptions, resource groups or id prefixes (/subscriptions/...) "
            "whose apps may connect",
            field=f"{where}.allowed_sources",
        )
    return tuple(s.strip() for s in raw)


def _secrets(raw: Any, kind: RbacKind, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if kind is not RbacKind.KEYVAULT_SECRETS:
        raise InvalidRequest(f"{where}.secrets: only keyvault-secrets targets take a list of secrets", field=where)
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) and _SECRET_NAME.match(s) for s in raw):
        raise InvalidRequest(
            f"{where}.secrets: a non-empty list of secret names (letters, digits and dashes)",
            field=f"{where}.secrets",
        )
    return tuple(dict.fromkeys(raw))
