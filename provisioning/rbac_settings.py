"""App settings of RBAC targets, with Service Connector's names for each kind and client. Pure.

Names and values, from Service Connector's pages (learn.microsoft.com/azure/service-connector/
how-to-integrate-storage-blob, -storage-queue, -key-vault, -service-bus; "Default environment variable
names", system- and user-assigned managed identity):

- storage-blob: `AZURE_STORAGEBLOB_RESOURCEENDPOINT` = `https://<account>.blob.core.windows.net/`;
  Spring Boot `spring.cloud.azure.storage.blob.credential.managed-identity-enabled`, `.account-name`, `.endpoint`
- storage-queue: `AZURE_STORAGEQUEUE_RESOURCEENDPOINT` = `https://<account>.queue.core.windows.net/`;
  Spring Boot `spring.cloud.azure.storage.queue.credential.managed-identity-enabled`, `.account-name`, `.endpoint`
- keyvault-secrets: `AZURE_KEYVAULT_RESOURCEENDPOINT` = `https://<vault>.vault.azure.net/`;
  Spring Boot `spring.cloud.azure.keyvault.secret.credential.managed-identity-enabled`, `.endpoint`
- servicebus: `AZURE_SERVICEBUS_FULLYQUALIFIEDNAMESPACE` = `<namespace>.servicebus.windows.net`;
  Spring Boot `spring.cloud.azure.servicebus.namespace`

Client type `none` (no framework) gets the names Service Connector gives "other clients" there: the
endpoint setting above and, for a user-assigned identity, `<PREFIX>_CLIENTID`; never Spring Boot's
(models.ClientType has the sources).

A user-assigned identity adds `<PREFIX>_CLIENTID` (Spring Boot: `...credential.client-id`, which Spring
Cloud Azure uses as the managed identity's client id when managed identity is enabled). Service
Connector's `AZURE_KEYVAULT_SCOPE` is left out: it carries the management scope, which reading secrets
never uses. Endpoints are what ARM reports for the account, vault or namespace (so sovereign clouds
and the local emulator need nothing special). A ``keyvault-reference`` target writes one setting, the
App Service Key Vault reference ``@Microsoft.KeyVault(SecretUri=<vault uri>secrets/<name>)`` ("Use Key
Vault references as app settings", learn.microsoft.com/azure/app-service/app-service-key-vault-references):
no version, so App Service follows the secret's rotation.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.models import ClientType
from provisioning.rbac_roles import RbacKind
from provisioning.rbac_targets import RbacTarget

PREFIX = {
    RbacKind.STORAGE_BLOB: "AZURE_STORAGEBLOB",
    RbacKind.STORAGE_QUEUE: "AZURE_STORAGEQUEUE",
    RbacKind.KEYVAULT_SECRETS: "AZURE_KEYVAULT",
    RbacKind.SERVICEBUS: "AZURE_SERVICEBUS",
}
SPRING = {
    RbacKind.STORAGE_BLOB: "spring.cloud.azure.storage.blob",
    RbacKind.STORAGE_QUEUE: "spring.cloud.azure.storage.queue",
    RbacKind.KEYVAULT_SECRETS: "spring.cloud.azure.keyvault.secret",
    RbacKind.SERVICEBUS: "spring.cloud.azure.servicebus",
}


@dataclass(frozen=True)
class RbacConnection:
    """What one RBAC connection's settings are made of; none of it is secret."""

    target: RbacTarget
    endpoint: str  # as ARM reports it: blob/queue primary endpoint, vault URI, Service Bus endpoint
    client: ClientType
    first_of_kind: bool
    user_assigned_client_id: str | None = None


def rbac_settings_for(connection: RbacConnection) -> dict[str, str]:
    target = connection.target
    if target.kind is RbacKind.KEYVAULT_REFERENCE:
        assert target.setting is not None
        secret = target.resource.names[-1]
        return {target.setting: f"@Microsoft.KeyVault(SecretUri={_slash(connection.endpoint)}secrets/{secret})"}
    if connection.client is ClientType.SPRINGBOOT and connection.first_of_kind:
        return _spring(connection)
    infix = "" if connection.first_of_kind else "_" + target.name.upper().replace("-", "_")
    prefix = PREFIX[target.kind] + infix
    settings = {f"{prefix}_{_endpoint_name(target.kind)}": _endpoint_value(target.kind, connection.endpoint)}
    if connection.user_assigned_client_id:
        settings[f"{prefix}_CLIENTID"] = connection.user_assigned_client_id
    return settings


def _spring(connection: RbacConnection) -> dict[str, str]:
    kind, base = connection.target.kind, SPRING[connection.target.kind]
    if kind is RbacKind.SERVICEBUS:
        settings = {f"{base}.namespace": _endpoint_value(kind, connection.endpoint)}
    else:
        settings = {
            f"{base}.credential.managed-identity-enabled": "true",
            f"{base}.endpoint": _slash(connection.endpoint),
        }
        if kind is not RbacKind.KEYVAULT_SECRETS:
            settings[f"{base}.account-name"] = connection.target.account.names[0]
    if connection.user_assigned_client_id:
        settings[f"{base}.credential.managed-identity-enabled"] = "true"
        settings[f"{base}.credential.client-id"] = connection.user_assigned_client_id
    return settings


def _endpoint_name(kind: RbacKind) -> str:
    return "FULLYQUALIFIEDNAMESPACE" if kind is RbacKind.SERVICEBUS else "RESOURCEENDPOINT"


def _endpoint_value(kind: RbacKind, endpoint: str) -> str:
    """Service Bus takes the namespace's host name (``https://ns.servicebus.windows.net:443/`` as ARM
    reports it becomes ``ns.servicebus.windows.net``); the others take the endpoint URL as reported."""
    if kind is not RbacKind.SERVICEBUS:
        return _slash(endpoint)
    host = endpoint.split("://", 1)[-1].rstrip("/")
    return host.removesuffix(":443") if "/" not in host else host.replace(":443/", "/")


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"
