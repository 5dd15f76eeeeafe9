"""Built-in Azure data-plane roles each RBAC target kind offers, by role profile. Pure.

Every id below is the role definition's ``name`` as "Azure built-in roles" publishes it
(learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage, .../security and
.../integration; the same JSON is in MicrosoftDocs/azure-docs articles/role-based-access-control/
built-in-roles/*.md). Role definitions are global: the id is the same in every subscription and cloud.
"""

from __future__ import annotations

from enum import Enum


class RbacKind(str, Enum):
    """A catalog target reached through an Azure role assignment rather than a database principal."""

    STORAGE_BLOB = "storage-blob"  # one blob container
    STORAGE_QUEUE = "storage-queue"  # one queue
    KEYVAULT_SECRETS = "keyvault-secrets"  # a vault, or named secrets in it
    KEYVAULT_REFERENCE = "keyvault-reference"  # one secret, read by App Service for a Key Vault reference
    SERVICEBUS = "servicebus"  # one queue or topic


# name -> role definition id (built-in-roles/storage, /security, /integration)
BUILT_IN_ROLES: dict[str, str] = {
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Queue Data Reader": "19e7f393-937e-4f77-808e-94535e297925",
    "Storage Queue Data Message Sender": "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
    "Storage Queue Data Message Processor": "8a0f0c08-91a1-4084-bc3d-661d67233fed",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
}
ROLE_NAMES: dict[str, str] = {role_id: name for name, role_id in BUILT_IN_ROLES.items()}

# The least-privileged built-in role for each profile a kind offers, when the catalog lists profiles
# without naming roles. "writer" on a queue adds messages only (Message Sender); "processor" reads and
# deletes them; Key Vault offers reading secrets and nothing more.
DEFAULT_ROLES: dict[RbacKind, dict[str, str]] = {
    RbacKind.STORAGE_BLOB: {"reader": "Storage Blob Data Reader", "writer": "Storage Blob Data Contributor"},
    RbacKind.STORAGE_QUEUE: {
        "reader": "Storage Queue Data Reader",
        "sender": "Storage Queue Data Message Sender",
        "processor": "Storage Queue Data Message Processor",
        "writer": "Storage Queue Data Contributor",
    },
    RbacKind.KEYVAULT_SECRETS: {"reader": "Key Vault Secrets User"},
    RbacKind.KEYVAULT_REFERENCE: {"reader": "Key Vault Secrets User"},
    RbacKind.SERVICEBUS: {"sender": "Azure Service Bus Data Sender", "receiver": "Azure Service Bus Data Receiver"},
}

# Role Based Access Control Administrator (built-in-roles/privileged): roleAssignments write and delete,
# and read. The function holds it only under the condition built by ``delegation_condition``.
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"


def role_label(role_id: str) -> str:
    """A role's name for people, or its id when it is a custom role."""
    return ROLE_NAMES.get(role_id, f"custom role {role_id}")


def delegation_condition(role_ids: frozenset[str]) -> str:
    """The ABAC condition (version 2.0) on the function's Role Based Access Control Administrator
    assignment: it may add or remove role assignments only of these role definitions, and only for
    service principals (managed identities are service principals).

    The shape is the "Constrain roles and principal types" example of "Examples to delegate Azure role
    assignment management with conditions" (learn.microsoft.com/azure/role-based-access-control/
    delegate-role-assignments-examples), with the principal types narrowed to ``ServicePrincipal``.
    """
    if not role_ids:
        raise ValueError("a delegation condition needs at least one role definition id")
    ids = ", ".join(sorted(role_ids))

    def clause(action: str, source: str) -> str:
        return (
            f"((!(ActionMatches{{'Microsoft.Authorization/roleAssignments/{action}'}})) OR "
            f"(@{source}[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals "
            f"{{{ids}}} AND @{source}[Microsoft.Authorization/roleAssignments:PrincipalType] "
            "ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal'}))"
        )

    return f"{clause('write', 'Request')} AND {clause('delete', 'Resource')}"
