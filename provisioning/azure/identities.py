"""Managed identities: the client id of a system identity, read from ARM (no Microsoft Graph call)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import ClientsBySubscription, arm_errors, client_options
from provisioning.config import Config
from provisioning.resource_ids import AppRef

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


class Identities:
    def __init__(self, credential: TokenCredential, config: Config) -> None:
        def build(subscription: str) -> Any:
            from azure.mgmt.msi import ManagedServiceIdentityClient

            return ManagedServiceIdentityClient(credential, subscription, **client_options(config))

        self._clients = ClientsBySubscription(build)

    def get_system_client_id(self, app: AppRef) -> str:
        """``{app}/providers/Microsoft.ManagedIdentity/identities/default`` carries the client id."""
        with arm_errors(f"read the system identity of {app.id}"):
            identity = self._clients.get(app.subscription).system_assigned_identities.get_by_scope(scope=app.id)
        return str(identity.client_id).lower()
