"""RBAC target kinds in the catalog, their roles and scopes, and their app settings."""

from __future__ import annotations

from typing import Any

import pytest

from provisioning.catalog import catalog_from_document
from provisioning.errors import InvalidRequest
from provisioning.models import ClientType
from provisioning.rbac_roles import BUILT_IN_ROLES, RbacKind, delegation_condition
from provisioning.rbac_settings import RbacConnection, rbac_settings_for

SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
DATA = f"{SUB}/resourceGroups/rg-data/providers"
CONTAINER = f"{DATA}/Microsoft.Storage/storageAccounts/stshop/blobServices/default/containers/orders"
QUEUE = f"{DATA}/Microsoft.Storage/storageAccounts/stshop/queueServices/default/queues/jobs"
VAULT = f"{DATA}/Microsoft.KeyVault/vaults/kv-pay"
SB_TOPIC = f"{DATA}/Microsoft.ServiceBus/namespaces/sb-shop/topics/events"
DATABASE = {
    "name": "orders",
    "engine": "postgres",
    "server": f"{DATA}/Microsoft.DBforPostgreSQL/flexibleServers/pg",
    "database": "orders",
    "roles": ["reader"],
    "allowed_sources": [SUB],
}


def catalog(*entries: dict[str, Any]) -> Any:
    return catalog_from_document({"targets": [DATABASE, *entries]})


def entry(**fields: Any) -> dict[str, Any]:
    return {"allowed_sources": [SUB], **fields}


def test_each_kind_takes_its_narrowest_scope_and_default_roles() -> None:
    parsed = catalog(
        entry(name="blobs", kind="storage-blob", resource=CONTAINER, roles=["reader", "writer"]),
        entry(name="jobs", kind="storage-queue", resource=QUEUE, roles=["sender"]),
        entry(name="pay-kv", kind="keyvault-secrets", resource=VAULT, roles=["reader"], secrets=["stripe-key"]),
        entry(
            name="partner",
            kind="keyvault-reference",
            resource=f"{VAULT}/secrets/partner",
            roles=["reader"],
            setting="PARTNER_KEY",
        ),
        entry(name="events", kind="servicebus", resource=SB_TOPIC, roles=["sender", "receiver"]),
    )

    rbac = parsed.rbac_targets
    assert set(parsed.targets) == {"orders"}
    assert rbac["blobs"].roles == {
        "reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        "writer": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    }
    assert rbac["blobs"].scopes == (CONTAINER,)
    assert rbac["jobs"].roles == {"sender": "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"}
    assert rbac["pay-kv"].scopes == (f"{VAULT}/secrets/stripe-key",)
    assert rbac["partner"].roles == {"reader": "4633458b-17de-408a-b874-0445c86b69e6"}
    assert rbac["events"].account.id == f"{DATA}/Microsoft.ServiceBus/namespaces/sb-shop"
    assert parsed.role_definition_ids() == {
        BUILT_IN_ROLES[name]
        for name in (
            "Storage Blob Data Reader",
            "Storage Blob Data Contributor",
            "Storage Queue Data Message Sender",
            "Key Vault Secrets User",
            "Azure Service Bus Data Sender",
            "Azure Service Bus Data Receiver",
        )
    }


def test_roles_may_name_a_built_in_role_or_a_custom_role_id() -> None:
    parsed = catalog(
        entry(
            name="blobs",
            kind="storage-blob",
            resource=CONTAINER,
            roles={"reader": "Storage Blob Data Reader", "auditor": "0A1B2C3D-0000-4000-8000-000000000001"},
        )
    )
    assert parsed.rbac_targets["blobs"].roles == {
        "reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        "auditor": "0a1b2c3d-0000-4000-8000-000000000001",
    }


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        (
            {
                "kind": "storage-blob",
                "resource": f"{DATA}/Microsoft.Storage/storageAccounts/stshop",
                "roles": ["reader"],
            },
            "resource",
        ),
        ({"kind": "storage-blob", "resource": CONTAINER, "roles": ["owner"]}, "roles"),
        ({"kind": "storage-blob", "resource": CONTAINER, "roles": {"reader": "Owner"}}, "roles"),
        ({"kind": "keyvault-reference", "resource": f"{VAULT}/secrets/x", "roles": ["reader"]}, "setting"),
        ({"kind": "keyvault-secrets", "resource": VAULT, "roles": ["reader"], "secrets": ["bad name"]}, "secrets"),
        ({"kind": "storage-queue", "resource": QUEUE, "roles": ["sender"], "secrets": ["x"]}, "secrets"),
        ({"kind": "servicebus", "resource": SB_TOPIC, "roles": ["sender"], "engine": "postgres"}, "unknown"),
        ({"kind": "queue", "resource": QUEUE, "roles": ["sender"]}, "kind"),
    ],
)
def test_a_bad_rbac_entry_is_refused_naming_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        catalog(entry(name="bad", **fields))
    assert named in str(refused.value)


def test_names_are_unique_across_databases_and_rbac_targets() -> None:
    with pytest.raises(InvalidRequest, match="defined twice"):
        catalog(entry(name="orders", kind="storage-blob", resource=CONTAINER, roles=["reader"]))


@pytest.mark.parametrize(
    ("kind", "endpoint", "client", "user", "expected"),
    [
        ("storage-blob", "https://stshop.blob.core.windows.net/", ClientType.PYTHON, None,
         {"AZURE_STORAGEBLOB_RESOURCEENDPOINT": "https://stshop.blob.core.windows.net/"}),
        ("storage-queue", "https://stshop.queue.core.windows.net/", ClientType.DOTNET, "cid",
         {"AZURE_STORAGEQUEUE_RESOURCEENDPOINT": "https://stshop.queue.core.windows.net/",
          "AZURE_STORAGEQUEUE_CLIENTID": "cid"}),
        ("keyvault-secrets", "https://kv-pay.vault.azure.net/", ClientType.NODEJS, None,
         {"AZURE_KEYVAULT_RESOURCEENDPOINT": "https://kv-pay.vault.azure.net/"}),
        ("servicebus", "https://sb-shop.servicebus.windows.net:443/", ClientType.JAVA, "cid",
         {"AZURE_SERVICEBUS_FULLYQUALIFIEDNAMESPACE": "sb-shop.servicebus.windows.net",
          "AZURE_SERVICEBUS_CLIENTID": "cid"}),
        ("servicebus", "https://sb-shop.servicebus.windows.net:443/", ClientType.SPRINGBOOT, None,
         {"spring.cloud.azure.servicebus.namespace": "sb-shop.servicebus.windows.net"}),
        # client type `none`: the names Service Connector gives "other clients", never Spring Boot's
        ("storage-blob", "https://stshop.blob.core.windows.net/", ClientType.NONE, None,
         {"AZURE_STORAGEBLOB_RESOURCEENDPOINT": "https://stshop.blob.core.windows.net/"}),
        ("storage-queue", "https://stshop.queue.core.windows.net/", ClientType.NONE, "cid",
         {"AZURE_STORAGEQUEUE_RESOURCEENDPOINT": "https://stshop.queue.core.windows.net/",
          "AZURE_STORAGEQUEUE_CLIENTID": "cid"}),
        ("keyvault-secrets", "https://kv-pay.vault.azure.net/", ClientType.NONE, "cid",
         {"AZURE_KEYVAULT_RESOURCEENDPOINT": "https://kv-pay.vault.azure.net/", "AZURE_KEYVAULT_CLIENTID": "cid"}),
        ("servicebus", "https://sb-shop.servicebus.windows.net:443/", ClientType.NONE, None,
         {"AZURE_SERVICEBUS_FULLYQUALIFIEDNAMESPACE": "sb-shop.servicebus.windows.net"}),
        ("storage-blob", "https://stshop.blob.core.windows.net/", ClientType.SPRINGBOOT, None,
         {"spring.cloud.azure.storage.blob.credential.managed-identity-enabled": "true",
          "spring.cloud.azure.storage.blob.endpoint": "https://stshop.blob.core.windows.net/",
          "spring.cloud.azure.storage.blob.account-name": "stshop"}),
    ],
)  # fmt: skip
def test_settings_carry_service_connectors_names(
    kind: str, endpoint: str, client: ClientType, user: str | None, expected: dict[str, str]
) -> None:
    resource = {"storage-blob": CONTAINER, "storage-queue": QUEUE, "keyvault-secrets": VAULT, "servicebus": SB_TOPIC}
    target = catalog(
        entry(
            name="t",
            kind=kind,
            resource=resource[kind],
            roles=["reader"] if "vault" in kind or "blob" in kind else ["sender"],
        )
    ).rbac_targets["t"]
    assert rbac_settings_for(RbacConnection(target, endpoint, client, True, user)) == expected


def test_a_later_connection_of_a_kind_carries_its_target_name_and_a_reference_is_one_setting() -> None:
    parsed = catalog(
        entry(name="archive-blobs", kind="storage-blob", resource=CONTAINER, roles=["reader"]),
        entry(
            name="partner",
            kind="keyvault-reference",
            resource=f"{VAULT}/secrets/partner",
            roles=["reader"],
            setting="PARTNER_KEY",
        ),
    )
    blob = RbacConnection(
        parsed.rbac_targets["archive-blobs"], "https://stshop.blob.core.windows.net", ClientType.PYTHON, False
    )
    blob_settings = {"AZURE_STORAGEBLOB_ARCHIVE_BLOBS_RESOURCEENDPOINT": "https://stshop.blob.core.windows.net/"}
    assert rbac_settings_for(blob) == blob_settings
    for client in (ClientType.PYTHON, ClientType.NONE):  # a reference is the same whatever the client
        reference = RbacConnection(
            parsed.rbac_targets["partner"], "https://kv-pay.vault.azure.net/", client, True, "cid"
        )
        assert rbac_settings_for(reference) == {
            "PARTNER_KEY": "@Microsoft.KeyVault(SecretUri=https://kv-pay.vault.azure.net/secrets/partner)"
        }
    later_none = RbacConnection(
        parsed.rbac_targets["archive-blobs"], "https://stshop.blob.core.windows.net", ClientType.NONE, False
    )
    assert rbac_settings_for(later_none) == blob_settings


def test_the_delegation_condition_lists_exactly_the_roles_and_service_principals() -> None:
    condition = delegation_condition(frozenset({"b", "a"}))
    assert condition.count("GuidEquals {a, b}") == 2
    assert condition.count("StringEqualsIgnoreCase {'ServicePrincipal'}") == 2
    assert kinds_offered() == {k.value for k in RbacKind}
    with pytest.raises(ValueError, match="at least one"):
        delegation_condition(frozenset())


def kinds_offered() -> set[str]:
    from provisioning.rbac_roles import DEFAULT_ROLES

    return {k.value for k in DEFAULT_ROLES}
