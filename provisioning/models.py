"""Frozen value types shared by every layer: catalog, requests and observed state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from provisioning.resource_ids import AppRef, ResourceId

if TYPE_CHECKING:
    from provisioning.rbac_targets import RbacTarget


class Engine(str, Enum):
    SQL = "sql"
    POSTGRES = "postgres"
    MYSQL = "mysql"


class ClientType(str, Enum):
    """The framework whose setting names a connection gets (Service Connector's ``--client-type``).

    ``none`` is Service Connector's ``CLIENT_TYPE.Blank = 'none'`` (azure-cli
    ``src/azure-cli/azure/cli/command_modules/serviceconnector/_resource_config.py``): no framework, so
    no framework-specific format. Service Connector's pages list it as a client type of every target
    used here ("None", learn.microsoft.com/azure/service-connector/how-to-integrate-postgres, -mysql,
    -sql-database, -storage-blob, -storage-queue, -key-vault, -service-bus) and give it only the generic
    pieces under the generic names: the "Other" tab of how-to-integrate-redis-cache (``#tab/none``)
    lists ``AZURE_REDIS_HOST``, ``_PORT``, ``_DATABASE``, ``_SSL`` where the other clients get one
    driver connection string, and the Storage pages give "other clients" ``AZURE_STORAGEBLOB_
    RESOURCEENDPOINT`` (``{Cloud}_{Type}_{Name}``, concept-service-connector-internals "Configuration
    naming convention"; Spring Boot's own names are for ``springboot`` only). Each dialect writes
    those pieces for ``none`` (``setting_values``); an RBAC target writes its endpoint setting.
    """

    PYTHON = "python"
    DJANGO = "django"
    DOTNET = "dotnet"
    JAVA = "java"
    SPRINGBOOT = "springboot"
    NODEJS = "nodejs"
    GO = "go"
    PHP = "php"
    RUBY = "ruby"
    NONE = "none"  # no framework: only the generic settings (see above)


class OnRemove(str, Enum):
    REPORT = "report"
    REVOKE = "revoke"


class TlsMode(str, Enum):
    REQUIRE = "require"
    DISABLE = "disable"


class IdentityKind(str, Enum):
    SYSTEM = "system"
    USER = "user"
    CREATE = "create"


class SqlBinding(str, Enum):
    """How an Azure SQL user is tied to its identity: SID from the client id (default) or object id."""

    SID = "sid"
    OBJECT_ID = "object_id"


class BindingKind(str, Enum):
    """Which id of the identity a database principal is bound to."""

    OBJECT_ID = "object id"
    CLIENT_ID = "client id"


class Privilege(str, Enum):
    """Engine-neutral privileges a role profile may list; each engine expands them."""

    SELECT = "SELECT"
    INSERT = "INSERT"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CREATE = "CREATE"


@dataclass(frozen=True)
class RoleProfile:
    name: str
    privileges: frozenset[Privilege]


@dataclass(frozen=True)
class Target:
    """One database the platform team offers, and who may ask for it."""

    name: str
    engine: Engine
    server: ResourceId
    database: str
    schemas: tuple[str, ...]
    roles: frozenset[str]
    allowed_sources: tuple[str, ...]
    tls: TlsMode = TlsMode.REQUIRE
    on_remove: OnRemove = OnRemove.REPORT
    owner_role: str | None = None
    sql_binding: SqlBinding = SqlBinding.SID


@dataclass(frozen=True)
class Connection:
    """Everything one connection's app settings are made of; none of it is secret."""

    engine: Engine
    target: str
    fqdn: str
    database: str
    principal: str
    tls: TlsMode
    client: ClientType
    owns_plain_names: bool  # the engine's un-infixed setting names are this connection's
    user_assigned_client_id: str | None = None
    port: int | None = None  # the server's own port when it has one (MySQL's databasePort)


@dataclass(frozen=True)
class AdminGroup:
    """An Entra group the function is a member of, made administrator of the servers."""

    object_id: str
    name: str


@dataclass(frozen=True)
class Catalog:
    targets: dict[str, Target]
    profiles: dict[str, RoleProfile]
    admin_group: AdminGroup | None = None
    identities: dict[str, OfferedIdentity] = field(default_factory=dict)  # by lower-cased resource id
    rbac_targets: Mapping[str, RbacTarget] = field(default_factory=dict)  # Storage, Key Vault, Service Bus

    def role_definition_ids(self) -> frozenset[str]:
        """Every role the catalog's RBAC targets assign: what the function's delegation condition allows."""
        return frozenset(role for t in self.rbac_targets.values() for role in t.roles.values())


@dataclass(frozen=True)
class OfferedIdentity:
    """A user-assigned identity the platform team lets apps ask for by resource id, and which apps:
    two-sided consent, as for targets, so a tag alone can never hand an app another team's identity."""

    id: str
    allowed_sources: tuple[str, ...]


@dataclass(frozen=True)
class ConnectionRequest:
    target: str
    role: str


@dataclass(frozen=True)
class IdentitySpec:
    kind: IdentityKind = IdentityKind.SYSTEM
    resource_id: str | None = None
    name: str | None = None

    def resource_id_for(self, app: AppRef) -> str | None:
        """The user-assigned identity's id; ``create:<name>`` lives in the app's resource group."""
        if self.kind is IdentityKind.CREATE:
            return (
                f"/subscriptions/{app.subscription}/resourceGroups/{app.resource_group}"
                f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{self.name}"
            )
        return self.resource_id


@dataclass(frozen=True)
class SkippedEntry:
    """One entry of a request that is not acted on, and why; the app's other entries still converge.
    ``target``: the target it names, when it names one (its principal there is left as it is)."""

    entry: str
    reason: str
    denied: bool  # True: refused by the catalog (policy-denied); False: malformed (request-invalid)
    target: str | None = None


@dataclass(frozen=True)
class AppRequest:
    app: AppRef
    connections: tuple[ConnectionRequest, ...]
    identity: IdentitySpec = IdentitySpec()
    client: ClientType | None = None
    from_pipeline: bool = False  # an explicit HTTP request, kept on the app since it has no tag
    skipped: tuple[SkippedEntry, ...] = ()  # malformed entries of a tag, reported and left out


@dataclass(frozen=True)
class UserAssignedIdentity:
    principal_id: str
    client_id: str
    owner: str | None = None  # the app it was created for (tag passwordless-owner), when read from ARM


@dataclass(frozen=True)
class IdentityHolder:
    """A live resource that holds an Entra identity: a site or slot (its system identity), or a
    user-assigned identity (``owner``: the app it was created for, from its passwordless-owner tag)."""

    resource_id: str
    owner: str | None = None


@dataclass(frozen=True)
class SiteState:
    """What ARM says about a site or slot right now."""

    app: AppRef
    tags: dict[str, str]
    linux_fx_version: str
    system_principal_id: str | None
    user_assigned: dict[str, UserAssignedIdentity]
    app_settings: dict[str, str]
    system_client_id: str | None = None  # read only when an engine binds to the client id
    location: str = ""
    key_vault_reference_identity: str | None = None  # "SystemAssigned" or a user-assigned identity id

    def attached(self, identity_id: str) -> UserAssignedIdentity | None:
        """A user-assigned identity attached to the app; ARM ids compare case-insensitively."""
        wanted = identity_id.lower()
        return next((ids for rid, ids in self.user_assigned.items() if rid.lower() == wanted), None)


@dataclass(frozen=True)
class IndexedRequest:
    """An app whose request a pipeline made over HTTP, as the function's request index names it: such a
    request lives in an app setting, which Resource Graph (the tag discovery) cannot see."""

    app: AppRef
    request: str  # what the app kept (``PASSWORDLESS_REQUEST``) when its apply converged


@dataclass(frozen=True)
class Administrator:
    object_id: str
    login: str


@dataclass(frozen=True)
class ServerInfo:
    id: ResourceId
    fqdn: str
    administrators: tuple[Administrator, ...]
    port: int | None = None  # as the server resource reports it (MySQL's databasePort); None: the engine's default


@dataclass(frozen=True, order=True)
class Grant:
    """One privilege on one object. ``object_kind`` is engine vocabulary (``table``, ``schema``...)."""

    object_kind: str
    object_name: tuple[str, ...]
    privilege: str


@dataclass(frozen=True)
class PrincipalState:
    """A database principal as the engine's catalog shows it; ``binding`` is the Entra id it is bound to
    (object id or client id, by engine), None when the principal is not bound to an identity."""

    name: str
    binding: str | None


@dataclass(frozen=True)
class DatabaseState:
    """One target database seen in one snapshot: the principal, its grants, the objects in scope."""

    principal: PrincipalState | None
    grants: frozenset[Grant]
    objects: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    default_owner: str | None = None


@dataclass(frozen=True)
class DatabaseSnapshot:
    """Every principal of one target database in one read, so an audit costs a query per database,
    not per app. Each object carries its owner: only objects of the owner role (``default_owner``,
    whose default privileges are managed too) are in the managed scope. Objects another role made (a
    ``ddl`` app's own tables) are that role's business: neither granted nor revoked."""

    principals: dict[str, str | None]  # name -> Entra binding (None: a role not bound to an identity)
    grants: dict[str, frozenset[Grant]]  # principal name -> grants in scope
    objects: dict[str, tuple[tuple[tuple[str, ...], str], ...]]  # kind -> ((name, owner), ...)
    default_owner: str | None = None

    def state_of(self, principal: str) -> DatabaseState:
        def managed(owner: str) -> bool:
            return owner == self.default_owner if self.default_owner is not None else owner != principal

        outside = {name for names in self.objects.values() for name, owner in names if not managed(owner)}
        return DatabaseState(
            principal=PrincipalState(principal, self.principals[principal]) if principal in self.principals else None,
            grants=frozenset(g for g in self.grants.get(principal, frozenset()) if g.object_name not in outside),
            objects={
                kind: tuple(sorted(name for name, owner in names if managed(owner)))
                for kind, names in self.objects.items()
            },
            default_owner=self.default_owner,
        )


@dataclass(frozen=True)
class RoleAssignmentState:
    """One Azure role assignment as ARM lists it: ``role`` is the role definition id (lower-case guid)."""

    id: str
    name: str
    scope: str
    role: str
    principal_id: str
    principal_type: str | None = None
    description: str | None = None
