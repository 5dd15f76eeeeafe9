"""The adapters the core drives, as Protocols: ARM (web apps, identities, servers), locks, the request
index, databases."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from provisioning.engines.base import DatabaseSession
from provisioning.models import (
    BindingKind,
    Engine,
    IdentityHolder,
    IndexedRequest,
    RoleAssignmentState,
    ServerInfo,
    SiteState,
    UserAssignedIdentity,
)
from provisioning.plan import SetAppSettings
from provisioning.rbac_targets import RbacTarget
from provisioning.resource_ids import AppRef


class WebAppsPort(Protocol):
    def get_site(self, app: AppRef) -> SiteState: ...
    def list_settings(self, app: AppRef) -> dict[str, str]: ...
    def update_identities(self, site: SiteState, *, system: bool, user_assigned: tuple[str, ...]) -> SiteState: ...
    def write_settings(self, app: AppRef, current: dict[str, str], step: SetAppSettings) -> None: ...
    def set_key_vault_reference_identity(self, app: AppRef, identity_id: str) -> None: ...


class IdentitiesPort(Protocol):
    def get_system_client_id(self, app: AppRef) -> str: ...
    def get_user_identity(self, identity_id: str) -> UserAssignedIdentity: ...
    def create_user_identity(self, identity_id: str, location: str, *, owner: str) -> UserAssignedIdentity: ...


class IdentityHoldersPort(Protocol):
    def list_holders(self, binding: str, *, kind: BindingKind, app: AppRef) -> tuple[IdentityHolder, ...]: ...


class LocksPort(Protocol):
    def hold(self, app: AppRef, *, cause: str | None = None) -> AbstractContextManager[None]: ...
    def already_handled(self, app: AppRef, cause: str, moment: datetime | None) -> bool: ...


class RequestIndexPort(Protocol):
    """The apps requested over HTTP (their request is kept in an app setting, which discovery cannot see)."""

    def record(self, app: AppRef, request: str) -> None: ...
    def forget(self, app: AppRef) -> None: ...
    def list_indexed(self) -> list[IndexedRequest]: ...


class ServersPort(Protocol):
    def get_server(self, engine: Engine, server: Any) -> ServerInfo: ...
    def forget(self, server: Any) -> None: ...


SessionFactory = Callable[[Engine, ServerInfo, str], DatabaseSession]


class RoleAssignmentsPort(Protocol):
    """Role assignments (azure-mgmt-authorization) and the endpoints of the resources they open."""

    def list_for_principal(self, subscription: str, principal_id: str) -> tuple[RoleAssignmentState, ...]: ...
    def list_at(self, scope: str) -> tuple[RoleAssignmentState, ...]: ...
    def create(self, scope: str, name: str, role: str, principal_id: str, description: str) -> None: ...
    def delete(self, scope: str, name: str) -> None: ...
    def get_endpoint(self, target: RbacTarget) -> str: ...
