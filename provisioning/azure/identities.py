"""Managed identities: the client id of a system identity, read from ARM (no Microsoft Graph call)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import arm_errors, client_options
from provisioning.config import Config
from provisioning.resource_ids import AppRef

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


class Identities:
    def __init__(self, credential: TokenCredential, config: Config) -> None:
        self._credential = credential
        self._config = config
        self._clients: dict[str, Any] = {}

    def get_system_client_id(self, app: AppRef) -> str:
        """``{app}/providers/Microsoft.ManagedIdentity/identities/default`` carries the client id."""
        key = app.subscription.lower()
        if key not in self._clients:
            from azure.mgmt.msi import ManagedServiceIdentityClient

            self._clients[key] = ManagedServiceIdentityClient(
                self._credential, app.subscription, **client_options(self._config)
            )
        with arm_errors(f"read the system identity of {app.id}"):
            identity = self._clients[key].system_assigned_identities.get_by_scope(scope=app.id)
        return str(identity.client_id).lower()
