"""The emulated Azure estate: the subscriptions, resource groups and resources the product touches.

An estate is seeded from a YAML file or a dict (see `estates/demo.yaml`). Ids the file leaves out
are derived from resource names, so one file always loads to the same estate. Lookups go by
resource id case-insensitively, as in ARM; answers carry the casing the resource was created with.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from emulator.errors import group_not_found, resource_not_found, subscription_not_found

if TYPE_CHECKING:
    from emulator.authorization import RoleAssignment

_ID_NAMESPACE = uuid.UUID("5f0c6f1e-3a59-4d37-9c1b-0e6f2b7d8a41")
_SCOPE = re.compile(r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+))?", re.IGNORECASE)

DEFAULT_LINUX_FX_VERSION = "PYTHON|3.11"

T = TypeVar("T")


class EstateError(ValueError):
    """The estate file is malformed; the message names the offending entry."""


def stable_uuid(*parts: str) -> str:
    """A uuid derived from names: the same estate file yields the same ids on every start."""
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(parts).lower()))


def new_uuid() -> str:
    """A fresh id, for what Azure mints anew (an identity enabled again, a new operation)."""
    return str(uuid.uuid4())


def key(resource_id: str) -> str:
    """The lookup key of a resource id: ARM ids are case-insensitive."""
    return resource_id.rstrip("/").lower()


def scope_of(resource_id: str) -> tuple[str, str | None]:
    """(subscription id, resource group or None) of a resource id."""
    match = _SCOPE.match(resource_id)
    if match is None:
        raise ValueError(f"not an ARM resource id: {resource_id!r}")
    return match.group(1), match.group(2)


def group_id(subscription_id: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"


@dataclass(frozen=True)
class Principal:
    """An Entra service principal or user: object (principal) id and application (client) id."""

    object_id: str
    client_id: str
    name: str = ""


@dataclass
class ResourceGroup:
    subscription_id: str
    name: str
    location: str

    @property
    def id(self) -> str:
        return group_id(self.subscription_id, self.name)


@dataclass
class Site:
    """A web app, or one of its deployment slots when `slot` is set."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)
    linux_fx_version: str = DEFAULT_LINUX_FX_VERSION
    app_settings: dict[str, str] = field(default_factory=dict)
    slot: str | None = None
    kind: str = "app,linux"  # "...,azurecontainerapps": hosted on Container Apps (PATCH answers 202)
    system_identity: Principal | None = None
    user_identities: list[str] = field(default_factory=list)  # attached identities' resource ids
    key_vault_reference_identity: str = "SystemAssigned"  # or a user-assigned identity's resource id

    @property
    def site_id(self) -> str:
        """The id of the web app itself (the parent of a slot)."""
        return f"{group_id(self.subscription_id, self.resource_group)}/providers/Microsoft.Web/sites/{self.name}"

    @property
    def id(self) -> str:
        return self.site_id if self.slot is None else f"{self.site_id}/slots/{self.slot}"


@dataclass
class UserIdentity:
    """A user-assigned managed identity resource."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    principal: Principal
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return user_identity_id(self.subscription_id, self.resource_group, self.name)


def user_identity_id(subscription_id: str, resource_group: str, name: str) -> str:
    provider_path = f"providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
    return f"{group_id(subscription_id, resource_group)}/{provider_path}"


@dataclass
class Administrator:
    """A Microsoft Entra administrator of a PostgreSQL flexible server."""

    object_id: str
    principal_name: str
    principal_type: str
    tenant_id: str


@dataclass
class PostgresServer:
    """A PostgreSQL flexible server; `fqdn` and `port` point at the real local server behind it."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    fqdn: str
    port: int
    version: str
    administrators: dict[str, Administrator] = field(default_factory=dict)  # by key(object id)
    databases: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return (
            f"{group_id(self.subscription_id, self.resource_group)}"
            f"/providers/Microsoft.DBforPostgreSQL/flexibleServers/{self.name}"
        )


@dataclass
class MysqlAdministrator:
    """The one Microsoft Entra administrator of a MySQL flexible server (resource `ActiveDirectory`).

    `identity_resource_id` is the server's user-assigned identity Azure uses to look principals up.
    """

    object_id: str  # the `sid` property
    login: str
    tenant_id: str
    identity_resource_id: str | None = None


@dataclass
class MysqlServer:
    """A MySQL flexible server; `fqdn` and `port` point at the local shim proxy in front of MariaDB."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    fqdn: str
    port: int
    version: str
    administrator: MysqlAdministrator | None = None  # Azure allows one
    databases: list[str] = field(default_factory=list)
    identity_resource_id: str = ""  # the server's user-assigned identity, required for Entra authentication

    @property
    def id(self) -> str:
        return (
            f"{group_id(self.subscription_id, self.resource_group)}"
            f"/providers/Microsoft.DBforMySQL/flexibleServers/{self.name}"
        )


@dataclass
class SqlAdministrator:
    """The one Microsoft Entra administrator of an Azure SQL logical server (resource `ActiveDirectory`)."""

    object_id: str  # the `sid` property
    login: str
    tenant_id: str
    principal_type: str | None = None  # User, Group or Application; None when the emulator cannot tell


@dataclass
class SqlServer:
    """An Azure SQL logical server; no database server stands behind it (T-SQL is proven without one)."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    fqdn: str
    administrator: SqlAdministrator | None = None  # Azure allows one
    databases: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{group_id(self.subscription_id, self.resource_group)}/providers/Microsoft.Sql/servers/{self.name}"


@dataclass
class StorageAccount:
    """A storage account with its blob containers (name -> blobs) and queues (name -> messages)."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    containers: dict[str, dict[str, bytes]] = field(default_factory=dict)
    queues: dict[str, list[str]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        group = group_id(self.subscription_id, self.resource_group)
        return f"{group}/providers/Microsoft.Storage/storageAccounts/{self.name}"


@dataclass
class KeyVault:
    """A key vault (RBAC permission model) with its secrets (name -> value)."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{group_id(self.subscription_id, self.resource_group)}/providers/Microsoft.KeyVault/vaults/{self.name}"


@dataclass
class ServiceBusNamespace:
    """A Service Bus namespace: queues (name -> messages) and topics (name -> subscription -> messages)."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    queues: dict[str, list[str]] = field(default_factory=dict)
    topics: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        group = group_id(self.subscription_id, self.resource_group)
        return f"{group}/providers/Microsoft.ServiceBus/namespaces/{self.name}"


@dataclass
class Estate:
    """Everything the emulator knows, indexed by `key(resource id)`; guard changes with `lock`."""

    tenant_id: str
    function_identity: Principal
    subscriptions: dict[str, str] = field(default_factory=dict)  # key -> subscription id
    resource_groups: dict[str, ResourceGroup] = field(default_factory=dict)
    sites: dict[str, Site] = field(default_factory=dict)
    user_identities: dict[str, UserIdentity] = field(default_factory=dict)
    postgres_servers: dict[str, PostgresServer] = field(default_factory=dict)
    mysql_servers: dict[str, MysqlServer] = field(default_factory=dict)
    sql_servers: dict[str, SqlServer] = field(default_factory=dict)
    storage_accounts: dict[str, StorageAccount] = field(default_factory=dict)
    key_vaults: dict[str, KeyVault] = field(default_factory=dict)
    servicebus_namespaces: dict[str, ServiceBusNamespace] = field(default_factory=dict)
    role_assignments: dict[str, RoleAssignment] = field(default_factory=dict)  # by key(assignment id)
    # Principals minted while serving (key(object id) -> monotonic time): until `replication_delay_s`
    # has passed, ARM's directory lookup does not find them yet.
    minted: dict[str, float] = field(default_factory=dict)
    replication_delay_s: float = 10.0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def mint_principal(self, name: str = "") -> Principal:
        """A new identity, as Entra creates one; ARM sees it only after replication."""
        principal = Principal(object_id=new_uuid(), client_id=new_uuid(), name=name)
        self.minted[key(principal.object_id)] = time.monotonic()
        return principal

    def principals(self) -> list[Principal]:
        """Every identity the directory holds: the function's, sites' system ones, user-assigned ones."""
        found = [self.function_identity]
        found += [site.system_identity for site in self.sites.values() if site.system_identity is not None]
        found += [identity.principal for identity in self.user_identities.values()]
        return found

    def directory_type(self, object_id: str) -> str | None:
        """The principal type ARM would record: managed identities are service principals."""
        return "ServicePrincipal" if any(key(p.object_id) == key(object_id) for p in self.principals()) else None

    def directory_replicated(self, object_id: str, now: float) -> bool:
        """Has this principal reached ARM's view of the directory (exists, and minted long enough ago)?"""
        if self.directory_type(object_id) is None:
            return False
        minted = self.minted.get(key(object_id))
        return minted is None or now - minted >= self.replication_delay_s

    def find(self, index: Mapping[str, T], resource_id: str) -> T:
        """The resource with this id, or the 404 ARM would give (unknown subscription, group, resource)."""
        found = index.get(key(resource_id))
        if found is not None:
            return found
        subscription_id, group = scope_of(resource_id)
        self.require_subscription(subscription_id)
        if group is None or key(group_id(subscription_id, group)) not in self.resource_groups:
            raise group_not_found(group or "")
        raise resource_not_found(resource_id.split("/providers/", 1)[-1], group)

    def require_subscription(self, subscription_id: str) -> None:
        if key(subscription_id) not in self.subscriptions:
            raise subscription_not_found(subscription_id)

    def ensure_group(self, subscription_id: str, name: str, location: str) -> ResourceGroup:
        self.subscriptions.setdefault(key(subscription_id), subscription_id)
        return self.resource_groups.setdefault(
            key(group_id(subscription_id, name)), ResourceGroup(subscription_id, name, location)
        )

    def add_site(self, site: Site) -> None:
        self.sites[key(site.id)] = site

    def remove_site(self, site: Site) -> None:
        """Remove a site or slot; a site takes its slots with it."""
        prefix = key(site.id) + "/slots/"
        for site_key in [k for k in self.sites if k == key(site.id) or k.startswith(prefix)]:
            del self.sites[site_key]

    def slots_of(self, site: Site) -> list[Site]:
        return [s for s in self.sites.values() if s.slot is not None and key(s.site_id) == key(site.id)]


def mysql_identity_id(server: MysqlServer) -> str:
    """The user-assigned identity a seeded MySQL server uses for Entra lookups (derived from its name)."""
    return user_identity_id(server.subscription_id, server.resource_group, f"{server.name}-entra")


def system_identity_for(resource_id: str) -> Principal:
    """The system identity a seeded site starts with (derived, so the same on every start)."""
    return Principal(object_id=stable_uuid(resource_id, "principal"), client_id=stable_uuid(resource_id, "client"))


def load_estate(source: Mapping[str, Any] | str | os.PathLike[str]) -> Estate:
    """Build an estate from a dict or a YAML file of the shape in `estates/demo.yaml`."""
    if not isinstance(source, Mapping):
        source = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        if not isinstance(source, Mapping):
            raise EstateError("the estate file must hold a mapping")
    return _Loader(source).estate


class _Loader:
    """Reads an estate document, naming the entry (`subscriptions[0].resource_groups[1]...`) on error."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        tenant_id = str(document.get("tenant_id") or stable_uuid("tenant"))
        function = _mapping(document.get("function_identity") or {}, "function_identity")
        name = str(function.get("name", "passwordless-func"))
        self.estate = Estate(
            tenant_id=tenant_id,
            function_identity=Principal(
                object_id=str(function.get("object_id") or stable_uuid(name, "principal")),
                client_id=str(function.get("client_id") or stable_uuid(name, "client")),
                name=name,
            ),
        )
        for i, subscription in enumerate(_list(document.get("subscriptions"), "subscriptions")):
            self._subscription(_mapping(subscription, f"subscriptions[{i}]"), f"subscriptions[{i}]")
        self.estate.replication_delay_s = float(document.get("replication_delay_s", self.estate.replication_delay_s))
        for i, item in enumerate(_list(document.get("role_assignments"), "role_assignments")):
            self._role_assignment(_mapping(item, f"role_assignments[{i}]"), f"role_assignments[{i}]")

    def _subscription(self, node: Mapping[str, Any], where: str) -> None:
        subscription_id = str(_required(node, "id", where))
        self.estate.subscriptions[key(subscription_id)] = subscription_id
        # Every group's identities first: sites may attach identities of any group.
        groups = []
        for i, item in enumerate(_list(node.get("resource_groups"), f"{where}.resource_groups")):
            group_where = f"{where}.resource_groups[{i}]"
            entry = _mapping(item, group_where)
            groups.append((self._group(subscription_id, entry, group_where), entry, group_where))
        for group, entry, group_where in groups:
            for i, site in enumerate(_list(entry.get("sites"), f"{group_where}.sites")):
                self._site(group, _mapping(site, f"{group_where}.sites[{i}]"), f"{group_where}.sites[{i}]")

    def _group(self, subscription_id: str, node: Mapping[str, Any], where: str) -> ResourceGroup:
        group = self.estate.ensure_group(
            subscription_id, str(_required(node, "name", where)), str(node.get("location", "westeurope"))
        )
        for i, item in enumerate(_list(node.get("user_assigned_identities"), f"{where}.user_assigned_identities")):
            entry_where = f"{where}.user_assigned_identities[{i}]"
            entry = _mapping(item, entry_where)
            name = str(_required(entry, "name", entry_where))
            identity_id = user_identity_id(subscription_id, group.name, name)
            principal = Principal(
                object_id=str(entry.get("principal_id") or stable_uuid(identity_id, "principal")),
                client_id=str(entry.get("client_id") or stable_uuid(identity_id, "client")),
                name=name,
            )
            self.estate.user_identities[key(identity_id)] = UserIdentity(
                subscription_id,
                group.name,
                name,
                group.location,
                principal,
                tags=_strings(entry.get("tags"), f"{entry_where}.tags"),
            )
        for i, entry in enumerate(_list(node.get("postgres_servers"), f"{where}.postgres_servers")):
            self._postgres(group, _mapping(entry, f"{where}.postgres_servers[{i}]"), f"{where}.postgres_servers[{i}]")
        for i, entry in enumerate(_list(node.get("mysql_servers"), f"{where}.mysql_servers")):
            self._mysql(group, _mapping(entry, f"{where}.mysql_servers[{i}]"), f"{where}.mysql_servers[{i}]")
        for i, entry in enumerate(_list(node.get("sql_servers"), f"{where}.sql_servers")):
            self._sql(group, _mapping(entry, f"{where}.sql_servers[{i}]"), f"{where}.sql_servers[{i}]")
        self._data_resources(group, node, where)
        return group

    def _data_resources(self, group: ResourceGroup, node: Mapping[str, Any], where: str) -> None:
        """Storage accounts (containers, queues), key vaults (secrets), Service Bus namespaces."""
        for i, item in enumerate(_list(node.get("storage_accounts"), f"{where}.storage_accounts")):
            entry = _mapping(item, f"{where}.storage_accounts[{i}]")
            account = StorageAccount(
                group.subscription_id, group.name, str(_required(entry, "name", where)), group.location
            )
            account.containers = {str(c): {} for c in _list(entry.get("containers"), f"{where}.containers")}
            account.queues = {str(q): [] for q in _list(entry.get("queues"), f"{where}.queues")}
            self.estate.storage_accounts[key(account.id)] = account
        for i, item in enumerate(_list(node.get("key_vaults"), f"{where}.key_vaults")):
            entry = _mapping(item, f"{where}.key_vaults[{i}]")
            vault = KeyVault(group.subscription_id, group.name, str(_required(entry, "name", where)), group.location)
            vault.secrets = _strings(entry.get("secrets"), f"{where}.key_vaults[{i}].secrets")
            self.estate.key_vaults[key(vault.id)] = vault
        for i, item in enumerate(_list(node.get("servicebus_namespaces"), f"{where}.servicebus_namespaces")):
            entry = _mapping(item, f"{where}.servicebus_namespaces[{i}]")
            namespace = ServiceBusNamespace(
                group.subscription_id, group.name, str(_required(entry, "name", where)), group.location
            )
            namespace.queues = {str(q): [] for q in _list(entry.get("queues"), f"{where}.queues")}
            namespace.topics = {
                str(t): {str(sub): [] for sub in _list(subs, f"{where}.topics")}
                for t, subs in _mapping(entry.get("topics") or {}, f"{where}.topics").items()
            }
            self.estate.servicebus_namespaces[key(namespace.id)] = namespace

    def _role_assignment(self, node: Mapping[str, Any], where: str) -> None:
        """A role assignment someone made (`principal: function` names the function's identity)."""
        from emulator.authorization import RoleAssignment, now_text

        principal = str(_required(node, "principal", where))
        if principal == "function":
            principal = self.estate.function_identity.object_id
        scope = str(_required(node, "scope", where))
        role = str(_required(node, "role", where))
        assignment = RoleAssignment(
            scope=scope,
            name=str(node.get("name") or stable_uuid(scope, role, principal)),
            role_definition_id=f"/subscriptions/{scope_of(scope)[0]}/providers/Microsoft.Authorization/roleDefinitions/{role}",
            principal_id=principal,
            principal_type=str(node.get("principal_type", "ServicePrincipal")),
            description=node.get("description"),
            condition=node.get("condition"),
            condition_version="2.0" if node.get("condition") else None,
            created_on=now_text(),
        )
        if assignment.role is None:
            raise EstateError(f"{where}.role: {role!r} is not a built-in role the emulator knows")
        self.estate.role_assignments[key(assignment.id)] = assignment

    def _site(self, group: ResourceGroup, node: Mapping[str, Any], where: str) -> None:
        site = Site(group.subscription_id, group.name, str(_required(node, "name", where)), group.location)
        self._site_fields(site, node, where)
        self.estate.add_site(site)
        for i, item in enumerate(_list(node.get("slots"), f"{where}.slots")):
            slot_where = f"{where}.slots[{i}]"
            entry = _mapping(item, slot_where)
            slot = Site(
                site.subscription_id,
                site.resource_group,
                site.name,
                site.location,
                linux_fx_version=site.linux_fx_version,
                slot=str(_required(entry, "name", slot_where)),
            )
            self._site_fields(slot, entry, slot_where)
            self.estate.add_site(slot)

    def _site_fields(self, site: Site, node: Mapping[str, Any], where: str) -> None:
        site.tags = _strings(node.get("tags"), f"{where}.tags")
        site.app_settings = _strings(node.get("app_settings"), f"{where}.app_settings")
        site.linux_fx_version = str(node.get("linux_fx_version", site.linux_fx_version))
        site.kind = str(node.get("kind", site.kind))
        identity = str(node.get("identity", "none")).lower()
        if identity not in ("none", "system"):
            raise EstateError(f"{where}.identity: expected 'none' or 'system', got {identity!r}")
        if identity == "system":
            site.system_identity = system_identity_for(site.id)
        for item in _list(node.get("user_assigned_identities"), f"{where}.user_assigned_identities"):
            reference = str(item)  # a name in the site's group, or a resource id
            if "/" not in reference:
                reference = user_identity_id(site.subscription_id, site.resource_group, reference)
            attached = self.estate.user_identities.get(key(reference))
            if attached is None:
                raise EstateError(f"{where}.user_assigned_identities: no identity {reference!r} in the estate")
            site.user_identities.append(attached.id)

    def _postgres(self, group: ResourceGroup, node: Mapping[str, Any], where: str) -> None:
        server = PostgresServer(
            group.subscription_id,
            group.name,
            str(_required(node, "name", where)),
            str(node.get("location", group.location)),
            fqdn=str(node.get("fqdn", "127.0.0.1")),
            port=int(node.get("port", 5432)),
            version=str(node.get("version", "16")),
            databases=[str(d) for d in _list(node.get("databases"), f"{where}.databases")],
        )
        for i, item in enumerate(_list(node.get("administrators"), f"{where}.administrators")):
            admin_where = f"{where}.administrators[{i}]"
            entry = _mapping(item, admin_where)
            admin = Administrator(
                object_id=str(_required(entry, "object_id", admin_where)),
                principal_name=str(_required(entry, "principal_name", admin_where)),
                principal_type=str(entry.get("principal_type", "ServicePrincipal")),
                tenant_id=self.estate.tenant_id,
            )
            server.administrators[key(admin.object_id)] = admin
        self.estate.postgres_servers[key(server.id)] = server

    def _mysql(self, group: ResourceGroup, node: Mapping[str, Any], where: str) -> None:
        server = MysqlServer(
            group.subscription_id,
            group.name,
            str(_required(node, "name", where)),
            str(node.get("location", group.location)),
            fqdn=str(node.get("fqdn", "127.0.0.1")),
            port=int(node.get("port", 3306)),
            version=str(node.get("version", "8.0.21")),
            databases=[str(d) for d in _list(node.get("databases"), f"{where}.databases")],
        )
        server.identity_resource_id = str(node.get("identity_resource_id") or mysql_identity_id(server))
        if node.get("administrator") is not None:
            admin_where = f"{where}.administrator"
            entry = _mapping(node["administrator"], admin_where)
            server.administrator = MysqlAdministrator(
                object_id=str(_required(entry, "object_id", admin_where)),
                login=str(_required(entry, "login", admin_where)),
                tenant_id=str(entry.get("tenant_id") or self.estate.tenant_id),
                identity_resource_id=server.identity_resource_id,
            )
        self.estate.mysql_servers[key(server.id)] = server

    def _sql(self, group: ResourceGroup, node: Mapping[str, Any], where: str) -> None:
        name = str(_required(node, "name", where))
        server = SqlServer(
            group.subscription_id,
            group.name,
            name,
            str(node.get("location", group.location)),
            fqdn=str(node.get("fqdn") or f"{name}.database.windows.net"),
            databases=[str(d) for d in _list(node.get("databases"), f"{where}.databases")],
        )
        if node.get("administrator") is not None:
            admin_where = f"{where}.administrator"
            entry = _mapping(node["administrator"], admin_where)
            principal_type = str(entry.get("type", "Application"))
            if principal_type not in ("User", "Group", "Application"):
                raise EstateError(f"{admin_where}.type: expected User, Group or Application, got {principal_type!r}")
            server.administrator = SqlAdministrator(
                object_id=str(_required(entry, "object_id", admin_where)),
                login=str(_required(entry, "login", admin_where)),
                tenant_id=str(entry.get("tenant_id") or self.estate.tenant_id),
                principal_type=principal_type,
            )
        self.estate.sql_servers[key(server.id)] = server


def _required(node: Mapping[str, Any], name: str, where: str) -> Any:
    if node.get(name) in (None, ""):
        raise EstateError(f"{where}: missing {name!r}")
    return node[name]


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise EstateError(f"{where}: expected a mapping")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EstateError(f"{where}: expected a list")
    return value


def _strings(value: Any, where: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value or {}, where).items()}
