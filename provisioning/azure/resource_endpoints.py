"""The data-plane endpoint of a storage account, vault or Service Bus namespace, as ARM reports it.

One generic ARM read (azure-mgmt-resource ``resources.get_by_id``) per resource, cached like server
facts: endpoints do not change while the resource exists. The api-versions are stable versions of each
provider's REST specification (Azure/azure-rest-api-specs,
``specification/storage/resource-manager/Microsoft.Storage/stable/2023-05-01/storage.json``,
``specification/keyvault/resource-manager/Microsoft.KeyVault/stable/2024-11-01/keyvault.json``,
``specification/servicebus/resource-manager/Microsoft.ServiceBus/stable/2021-11-01/namespace-preview.json``),
whose answers carry ``properties.primaryEndpoints.{blob,queue}``, ``properties.vaultUri`` and
``properties.serviceBusEndpoint``. Key Vault's is the default of azure-mgmt-keyvault 11.0.0 (its
reference lists the api-version modules v2024_11_01, v2023_02_01, v2016_10_01).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import ClientsBySubscription, azure_errors, client_options
from provisioning.config import Config
from provisioning.errors import PermanentError
from provisioning.rbac_roles import RbacKind
from provisioning.rbac_targets import RbacTarget

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

CACHE_SECONDS = 300.0
API_VERSIONS = {
    "microsoft.storage/storageaccounts": "2023-05-01",
    "microsoft.keyvault/vaults": "2024-11-01",
    "microsoft.servicebus/namespaces": "2021-11-01",
}


class ResourceEndpoints:
    def __init__(self, credential: TokenCredential, config: Config) -> None:
        self._credential = credential
        self._config = config
        self._clients = ClientsBySubscription(self._client)
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def _client(self, subscription: str) -> Any:
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(self._credential, subscription, **client_options(self._config))

    def get_endpoint(self, target: RbacTarget) -> str:
        properties = self._properties(target)
        kind = target.kind
        if kind is RbacKind.STORAGE_BLOB or kind is RbacKind.STORAGE_QUEUE:
            endpoint = (properties.get("primaryEndpoints") or {}).get(
                "blob" if kind is RbacKind.STORAGE_BLOB else "queue"
            )
        elif kind is RbacKind.SERVICEBUS:
            endpoint = properties.get("serviceBusEndpoint")
        else:
            endpoint = properties.get("vaultUri")
        if not isinstance(endpoint, str) or not endpoint:
            raise PermanentError(f"{target.name}: {target.account.id} reports no endpoint for {kind.value}")
        return endpoint

    def _properties(self, target: RbacTarget) -> dict[str, Any]:
        account = target.account
        cached = self._cache.get(account.key)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        client = self._clients.get(account.subscription)
        with azure_errors(f"read {account.id}"):
            found = client.resources.get_by_id(account.id, api_version=API_VERSIONS[account.full_type])
        properties = dict(found.properties or {})
        self._cache[account.key] = (time.monotonic(), properties)
        return properties
