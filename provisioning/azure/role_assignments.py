"""Role assignments through azure-mgmt-authorization: list a principal's, create ours, delete ours.

Every assignment is created with ``principalType`` set: ARM then skips its directory lookup, so an
identity created seconds ago is assigned at once instead of failing with ``PrincipalNotFound``
("If you are creating this principal and then immediately assigning a role ... set the role assignment
principalType property", ARM's own message; learn.microsoft.com/azure/role-based-access-control/
role-assignments-template#new-service-principal). Managed identities are service principals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import ClientsBySubscription, azure_errors, client_options
from provisioning.azure.resource_endpoints import ResourceEndpoints
from provisioning.config import Config
from provisioning.models import RoleAssignmentState
from provisioning.rbac_targets import RbacTarget

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

PRINCIPAL_TYPE = "ServicePrincipal"


class RoleAssignments:
    def __init__(self, credential: TokenCredential, config: Config) -> None:
        self._credential = credential
        self._config = config
        self._clients = ClientsBySubscription(self._client)
        self._endpoints = ResourceEndpoints(credential, config)

    def _client(self, subscription: str) -> Any:
        from azure.mgmt.authorization import AuthorizationManagementClient

        return AuthorizationManagementClient(self._credential, subscription, **client_options(self._config))

    def list_for_principal(self, subscription: str, principal_id: str) -> tuple[RoleAssignmentState, ...]:
        """Every assignment of one principal in a subscription: one ARM read, whatever the targets."""
        client = self._clients.get(subscription)
        with azure_errors(f"list role assignments of {principal_id}"):
            found = list(client.role_assignments.list_for_subscription(filter=f"principalId eq '{principal_id}'"))
        return tuple(_state(a) for a in found)

    def list_at(self, scope: str) -> tuple[RoleAssignmentState, ...]:
        """Every assignment at, above or below a scope (the audit's view of one catalog target)."""
        client = self._clients.get(scope.strip("/").split("/")[1])
        with azure_errors(f"list role assignments at {scope}"):
            found = list(client.role_assignments.list_for_scope(scope))
        return tuple(_state(a) for a in found)

    def create(self, scope: str, name: str, role: str, principal_id: str, description: str) -> None:
        from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

        subscription = scope.strip("/").split("/")[1]
        parameters = RoleAssignmentCreateParameters(
            role_definition_id=f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role}",
            principal_id=principal_id,
            principal_type=PRINCIPAL_TYPE,
            description=description,
        )
        with azure_errors(f"assign role {role} to {principal_id} at {scope}"):
            self._clients.get(subscription).role_assignments.create(scope, name, parameters)

    def get_endpoint(self, target: RbacTarget) -> str:
        """The data-plane endpoint the target's settings carry (read once per resource, then cached)."""
        return self._endpoints.get_endpoint(target)

    def delete(self, scope: str, name: str) -> None:
        with azure_errors(f"delete role assignment {name} at {scope}"):
            self._clients.get(scope.strip("/").split("/")[1]).role_assignments.delete(scope, name)


def _state(assignment: Any) -> RoleAssignmentState:
    return RoleAssignmentState(
        id=str(assignment.id),
        name=str(assignment.name),
        scope=str(assignment.scope),
        role=str(assignment.role_definition_id).rstrip("/").rsplit("/", 1)[-1].lower(),
        principal_id=str(assignment.principal_id).lower(),
        principal_type=assignment.principal_type,
        description=assignment.description,
    )
