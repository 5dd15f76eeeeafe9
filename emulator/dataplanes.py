"""Storage accounts, key vaults and Service Bus namespaces: the ARM read that gives their endpoints,
and a minimal data plane for each that authorizes the caller's own token against role assignments.

The data planes are what tests log in to, the way database tests log in as the provisioned principal:
a blob read and write, a queue message added and received, a secret read, a Service Bus message sent
and received. Each checks the bearer token's audience and then asks, as the service does, whether a
role assignment of the token's principal at or above the resource grants the operation's data action
(the data actions per operation are those of "Authorize access to blobs/queues using Microsoft Entra
ID" and the built-in roles' DataActions). Paths are served under this emulator's host, account or
vault first: `/blob/{account}/...`, `/queue/{account}/...`, `/vault/{vault}/...`,
`/servicebus/{namespace}/...`; the ARM resources report those as their endpoints, as Azure reports
`https://{account}.blob.core.windows.net/`.

Denials answer each service's own way: Storage 403 `AuthorizationPermissionMismatch` (Blob and Queue
service error codes), Key Vault 403 `Forbidden` with inner code `ForbiddenByRbac`, Service Bus 401
naming the missing claim.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from emulator.authorization import data_action_allowed
from emulator.errors import ArmError
from emulator.estate import Estate, KeyVault, ServiceBusNamespace, StorageAccount, new_uuid
from emulator.server import ArmRequest, ArmResponse, Route, arm_route
from emulator.tokens import TokenIssuer

STORAGE_API_VERSION = "2023-05-01"  # specification/storage/resource-manager/Microsoft.Storage/stable
KEYVAULT_API_VERSION = "2024-11-01"  # specification/keyvault/resource-manager/Microsoft.KeyVault/stable
SERVICEBUS_API_VERSION = "2021-11-01"  # specification/servicebus/resource-manager/Microsoft.ServiceBus/stable

# Token audiences each service accepts (the resource ids of "Authorize with Microsoft Entra ID" pages).
STORAGE_AUDIENCES = ("https://storage.azure.com",)
VAULT_AUDIENCES = ("https://vault.azure.net",)
SERVICEBUS_AUDIENCES = ("https://servicebus.azure.net",)

_BLOB = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
_QUEUE = "Microsoft.Storage/storageAccounts/queueServices/queues/messages"
_GROUP = "/subscriptions/{subscription}/resourceGroups/{group}/providers"
_REFERENCE = re.compile(r"^@Microsoft\.KeyVault\(SecretUri=(?P<uri>[^)]+)\)$")


class DataPlanesApi:
    def __init__(self, estate: Estate, issuer: TokenIssuer) -> None:
        self._estate = estate
        self._issuer = issuer

    def routes(self) -> list[Route]:
        def data(method: str, template: str, handler: Any) -> Route:
            return Route(method, template, handler, authenticated=False, raw_body=True)

        return [
            arm_route(
                "GET",
                _GROUP + "/Microsoft.Storage/storageAccounts/{name}",
                STORAGE_API_VERSION,
                self.get_storage_account,
            ),
            arm_route("GET", _GROUP + "/Microsoft.KeyVault/vaults/{name}", KEYVAULT_API_VERSION, self.get_vault),
            arm_route(
                "GET", _GROUP + "/Microsoft.ServiceBus/namespaces/{name}", SERVICEBUS_API_VERSION, self.get_namespace
            ),
            data("GET", "/blob/{account}/{container}/{blob*}", self.read_blob),
            data("PUT", "/blob/{account}/{container}/{blob*}", self.write_blob),
            data("POST", "/queue/{account}/{queue}/messages", self.put_message),
            data("GET", "/queue/{account}/{queue}/messages", self.get_messages),
            data("GET", "/vault/{vault}/secrets/{secret}", self.get_secret),
            data("GET", "/vault/{vault}/secrets/{secret}/{version}", self.get_secret),
            data("POST", "/servicebus/{namespace}/{entity*}/messages", self.send_message),
            data("DELETE", "/servicebus/{namespace}/{entity*}/messages/head", self.receive_message),
        ]

    # -- ARM: the resources and the endpoints they report ------------------------------------
    def get_storage_account(self, request: ArmRequest) -> ArmResponse:
        account = self._estate.find(
            self._estate.storage_accounts, self._arm_id(request, "Microsoft.Storage/storageAccounts")
        )
        base = request.base_url
        return ArmResponse(
            200,
            {
                "id": account.id,
                "name": account.name,
                "type": "Microsoft.Storage/storageAccounts",
                "location": account.location,
                "kind": "StorageV2",
                "sku": {"name": "Standard_LRS", "tier": "Standard"},
                "properties": {
                    "provisioningState": "Succeeded",
                    "primaryEndpoints": {
                        "blob": f"{base}/blob/{account.name}/",
                        "queue": f"{base}/queue/{account.name}/",
                    },
                    "allowSharedKeyAccess": False,
                },
            },
        )

    def get_vault(self, request: ArmRequest) -> ArmResponse:
        vault = self._estate.find(self._estate.key_vaults, self._arm_id(request, "Microsoft.KeyVault/vaults"))
        return ArmResponse(
            200,
            {
                "id": vault.id,
                "name": vault.name,
                "type": "Microsoft.KeyVault/vaults",
                "location": vault.location,
                "properties": {
                    "tenantId": self._estate.tenant_id,
                    "sku": {"family": "A", "name": "standard"},
                    "vaultUri": vault_uri(request.base_url, vault),
                    "enableRbacAuthorization": True,
                    "provisioningState": "Succeeded",
                },
            },
        )

    def get_namespace(self, request: ArmRequest) -> ArmResponse:
        namespace = self._estate.find(
            self._estate.servicebus_namespaces, self._arm_id(request, "Microsoft.ServiceBus/namespaces")
        )
        return ArmResponse(
            200,
            {
                "id": namespace.id,
                "name": namespace.name,
                "type": "Microsoft.ServiceBus/Namespaces",
                "location": namespace.location,
                "sku": {"name": "Standard", "tier": "Standard"},
                "properties": {
                    "provisioningState": "Succeeded",
                    "status": "Active",
                    "serviceBusEndpoint": f"{request.base_url}/servicebus/{namespace.name}/",
                    "disableLocalAuth": True,
                },
            },
        )

    # -- Blob ---------------------------------------------------------------------------------
    def read_blob(self, request: ArmRequest) -> ArmResponse:
        account, container, blobs = self._container(request)
        blob = request.params["blob"]
        self._storage_authorize(request, f"{container_id(account, container)}", f"{_BLOB}/read")
        if blob not in blobs:
            return _storage_error(404, "BlobNotFound", "The specified blob does not exist.")
        data = blobs[blob]
        return ArmResponse(200, data, headers=_blob_headers(data), content_type="application/octet-stream")

    def write_blob(self, request: ArmRequest) -> ArmResponse:
        account, container, blobs = self._container(request)
        self._storage_authorize(request, container_id(account, container), f"{_BLOB}/write")
        data = request.body if isinstance(request.body, bytes) else b""
        blobs[request.params["blob"]] = data
        return ArmResponse(201, None, headers=_blob_headers(data))

    # -- Queue --------------------------------------------------------------------------------
    def put_message(self, request: ArmRequest) -> ArmResponse:
        account, queue, messages = self._queue(request)
        scope = queue_id(account, queue)
        self._storage_authorize(request, scope, f"{_QUEUE}/add/action", f"{_QUEUE}/write")
        text = re.search(rb"<MessageText>(.*)</MessageText>", request.body or b"", re.DOTALL)
        messages.append((text.group(1) if text else b"").decode("utf-8"))
        return ArmResponse(201, _queue_xml([]), content_type="application/xml")

    def get_messages(self, request: ArmRequest) -> ArmResponse:
        account, queue, messages = self._queue(request)
        peek = request.query.get("peekonly", "").lower() == "true"
        action = f"{_QUEUE}/read" if peek else f"{_QUEUE}/process/action"
        self._storage_authorize(request, queue_id(account, queue), action)
        taken = messages[:1] if peek else [messages.pop(0)] if messages else []
        return ArmResponse(200, _queue_xml(taken), content_type="application/xml")

    # -- Key Vault ----------------------------------------------------------------------------
    def get_secret(self, request: ArmRequest) -> ArmResponse:
        vault = self._vault(request.params["vault"])
        name = request.params["secret"]
        value = self.read_secret(vault, name, self._principal(request, VAULT_AUDIENCES))
        return ArmResponse(
            200,
            {
                "value": value,
                "id": f"{vault_uri(request.base_url, vault)}secrets/{name}",
                "attributes": {"enabled": True},
            },
        )

    def read_secret(self, vault: KeyVault, name: str, principal_id: str) -> str:
        """A secret's value when the principal may read it (the vault or that secret is the scope)."""
        action = "Microsoft.KeyVault/vaults/secrets/getSecret/action"
        if not data_action_allowed(self._estate, principal_id, f"{vault.id}/secrets/{name}", action):
            raise ArmError(
                403,
                "Forbidden",
                f"Caller is not authorized to perform action on resource. Caller: oid={principal_id}; "
                f"Action: '{action}'; Resource: '{vault.id}/secrets/{name}'",
                inner_code="ForbiddenByRbac",
            )
        if name not in vault.secrets:
            raise ArmError(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault.")
        return vault.secrets[name]

    # -- Service Bus --------------------------------------------------------------------------
    def send_message(self, request: ArmRequest) -> ArmResponse:
        namespace, entity, messages = self._entity(request, receiving=False)
        self._servicebus_authorize(request, namespace, entity, "send", "Send")
        for queue in messages:
            queue.append((request.body or b"").decode("utf-8"))
        return ArmResponse(201, None)

    def receive_message(self, request: ArmRequest) -> ArmResponse:
        namespace, entity, messages = self._entity(request, receiving=True)
        self._servicebus_authorize(request, namespace, entity, "receive", "Listen")
        queue = messages[0]
        if not queue:
            return ArmResponse(204, None)
        return ArmResponse(200, queue.pop(0).encode("utf-8"), content_type="application/atom+xml;type=entry")

    # -- shared -------------------------------------------------------------------------------
    def _principal(self, request: ArmRequest, audiences: tuple[str, ...]) -> str:
        claims = self._issuer.verify(request.headers.get("authorization"), audiences=audiences)
        return str(claims["oid"])

    def _storage_authorize(self, request: ArmRequest, scope: str, *actions: str) -> None:
        principal = self._principal(request, STORAGE_AUDIENCES)
        if not any(data_action_allowed(self._estate, principal, scope, action) for action in actions):
            raise ArmError(
                403,
                "AuthorizationPermissionMismatch",
                "This request is not authorized to perform this operation using this permission.",
                headers={"x-ms-error-code": "AuthorizationPermissionMismatch"},
            )

    def _servicebus_authorize(
        self, request: ArmRequest, namespace: ServiceBusNamespace, entity: str, verb: str, claim: str
    ) -> None:
        principal = self._principal(request, SERVICEBUS_AUDIENCES)
        scope = f"{namespace.id}/{entity}"
        if not data_action_allowed(
            self._estate, principal, scope, f"Microsoft.ServiceBus/namespaces/messages/{verb}/action"
        ):
            raise ArmError(
                401, "Unauthorized", f"Unauthorized access. '{claim}' claim(s) are required to perform this operation."
            )

    def _container(self, request: ArmRequest) -> tuple[StorageAccount, str, dict[str, bytes]]:
        account = self._account(request.params["account"])
        container = request.params["container"]
        if container not in account.containers:
            raise ArmError(404, "ContainerNotFound", "The specified container does not exist.")
        return account, container, account.containers[container]

    def _queue(self, request: ArmRequest) -> tuple[StorageAccount, str, list[str]]:
        account = self._account(request.params["account"])
        queue = request.params["queue"]
        if queue not in account.queues:
            raise ArmError(404, "QueueNotFound", "The specified queue does not exist.")
        return account, queue, account.queues[queue]

    def _account(self, name: str) -> StorageAccount:
        for account in self._estate.storage_accounts.values():
            if account.name.lower() == name.lower():
                return account
        raise ArmError(404, "ResourceNotFound", f"The storage account '{name}' does not exist.")

    def _vault(self, name: str) -> KeyVault:
        return vault_named(self._estate, name)

    def _entity(self, request: ArmRequest, *, receiving: bool) -> tuple[ServiceBusNamespace, str, list[list[str]]]:
        """(namespace, entity path for the scope, the message lists a send fills or a receive drains)."""
        name = request.params["namespace"]
        namespace = next(
            (n for n in self._estate.servicebus_namespaces.values() if n.name.lower() == name.lower()), None
        )
        if namespace is None:
            raise ArmError(404, "EntityNotFound", f"The namespace '{name}' does not exist.")
        parts = request.params["entity"].strip("/").split("/")
        if len(parts) == 1 and parts[0] in namespace.queues:
            return namespace, f"queues/{parts[0]}", [namespace.queues[parts[0]]]
        if parts[0] in namespace.topics:
            subscriptions = namespace.topics[parts[0]]
            if not receiving and len(parts) == 1:
                return namespace, f"topics/{parts[0]}", list(subscriptions.values())
            if receiving and len(parts) == 3 and parts[1] == "subscriptions" and parts[2] in subscriptions:
                return namespace, f"topics/{parts[0]}", [subscriptions[parts[2]]]
        raise ArmError(404, "EntityNotFound", f"The messaging entity '{request.params['entity']}' could not be found.")

    def _arm_id(self, request: ArmRequest, resource_type: str) -> str:
        p = request.params
        return f"/subscriptions/{p['subscription']}/resourceGroups/{p['group']}/providers/{resource_type}/{p['name']}"


def vault_named(estate: Estate, name: str) -> KeyVault:
    for vault in estate.key_vaults.values():
        if vault.name.lower() == name.lower():
            return vault
    raise ArmError(404, "VaultNotFound", f"The vault '{name}' does not exist.")


def vault_uri(base_url: str, vault: KeyVault) -> str:
    return f"{base_url}/vault/{vault.name}/"


def container_id(account: StorageAccount, container: str) -> str:
    return f"{account.id}/blobServices/default/containers/{container}"


def queue_id(account: StorageAccount, queue: str) -> str:
    return f"{account.id}/queueServices/default/queues/{queue}"


def parse_reference(value: str) -> tuple[str, str] | None:
    """(vault name, secret name) of an `@Microsoft.KeyVault(SecretUri=…)` app setting served here."""
    match = _REFERENCE.match(value.strip())
    if match is None:
        return None
    path = re.search(r"/vault/([^/]+)/secrets/([^/]+)", match.group("uri"))
    return (path.group(1), path.group(2)) if path else None


def _storage_error(status: int, code: str, message: str) -> ArmResponse:
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return ArmResponse(status, body.encode(), headers={"x-ms-error-code": code}, content_type="application/xml")


def _blob_headers(data: bytes) -> dict[str, str]:
    return {
        "ETag": f'"0x{abs(hash(data)):X}"',
        "Last-Modified": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "x-ms-blob-type": "BlockBlob",
    }


def _queue_xml(messages: list[str]) -> bytes:
    items = "".join(
        f"<QueueMessage><MessageId>{new_uuid()}</MessageId><MessageText>{escape(text)}</MessageText></QueueMessage>"
        for text in messages
    )
    return f'<?xml version="1.0" encoding="utf-8"?><QueueMessagesList>{items}</QueueMessagesList>'.encode()
