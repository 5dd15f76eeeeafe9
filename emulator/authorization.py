"""Microsoft.Authorization/roleAssignments (api-version 2022-04-01) and the built-in roles they name.

What ARM does around a role assignment, as far as the product depends on it:
- PUT `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`: 201 with the assignment.
  A second assignment of the same role to the same principal at the same scope is refused with 409
  `RoleAssignmentExists` "The role assignment already exists." (the answer recorded in the public
  threads Azure/azure-cli#8599, hashicorp/terraform-provider-azurerm#28694 and #28557).
- A principal created moments ago may not have replicated to ARM yet: without `principalType` the
  PUT fails with 400 `PrincipalNotFound` and the message below (quoted verbatim in
  Azure/HubAndSpokeResearchEnclave#50 and Azure-Samples/azure-search-openai-demo#9); with
  `principalType` ARM skips that lookup (hashicorp/terraform-provider-azurerm#18113 shows an unknown
  principal accepted when its type is given).
- GET/DELETE by name; DELETE of a missing assignment answers 204 (RoleAssignments_Delete: 200, 204).
- GET `{scope}/providers/Microsoft.Authorization/roleAssignments`: at, above and below the scope;
  `$filter=atScope()` at or above it; `$filter=principalId eq '{id}'` at, above or below it for one
  principal ("List Azure role assignments using the REST API", learn.microsoft.com).
- The caller's own assignment may carry an ABAC condition (delegated role assignment management):
  when it does not hold, 403 `AuthorizationFailed` saying the caller "has an authorization with ABAC
  condition that is not fulfilled to perform action" (Azure/enterprise-azure-policy-as-code#787);
  without any authorization, "does not have authorization to perform action"
  (elastic/apm-agent-dotnet#1692). The emulator checks these for the function's own identity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emulator import abac
from emulator.errors import ArmError, bad_request
from emulator.estate import Estate, key
from emulator.events import EventLog
from emulator.server import ArmRequest, ArmResponse, Route, arm_route

API_VERSION = "2022-04-01"
_PROVIDER = "/providers/Microsoft.Authorization/roleAssignments"
WRITE = "Microsoft.Authorization/roleAssignments/write"
DELETE = "Microsoft.Authorization/roleAssignments/delete"
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal", "ForeignGroup", "Device")


@dataclass(frozen=True)
class RoleDefinition:
    name: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()


# The role definitions exactly as "Azure built-in roles" (learn.microsoft.com/azure/role-based-access-
# control/built-in-roles/{privileged,storage,security,integration}) publishes them.
BUILT_IN_ROLES: dict[str, RoleDefinition] = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": RoleDefinition("Owner", actions=("*",)),
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": RoleDefinition(
        "Role Based Access Control Administrator", actions=(WRITE, DELETE, "*/read", "Microsoft.Support/*")
    ),
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": RoleDefinition(
        "Storage Blob Data Reader",
        actions=(
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
        ),
        data_actions=("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",),
    ),
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": RoleDefinition(
        "Storage Blob Data Contributor",
        actions=(
            "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/write",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
        ),
        data_actions=(
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
        ),
    ),
    "19e7f393-937e-4f77-808e-94535e297925": RoleDefinition(
        "Storage Queue Data Reader",
        actions=("Microsoft.Storage/storageAccounts/queueServices/queues/read",),
        data_actions=("Microsoft.Storage/storageAccounts/queueServices/queues/messages/read",),
    ),
    "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a": RoleDefinition(
        "Storage Queue Data Message Sender",
        data_actions=("Microsoft.Storage/storageAccounts/queueServices/queues/messages/add/action",),
    ),
    "8a0f0c08-91a1-4084-bc3d-661d67233fed": RoleDefinition(
        "Storage Queue Data Message Processor",
        data_actions=(
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/read",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action",
        ),
    ),
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": RoleDefinition(
        "Storage Queue Data Contributor",
        actions=(
            "Microsoft.Storage/storageAccounts/queueServices/queues/delete",
            "Microsoft.Storage/storageAccounts/queueServices/queues/read",
            "Microsoft.Storage/storageAccounts/queueServices/queues/write",
        ),
        data_actions=(
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/delete",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/read",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/write",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action",
        ),
    ),
    "4633458b-17de-408a-b874-0445c86b69e6": RoleDefinition(
        "Key Vault Secrets User",
        data_actions=(
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ),
    ),
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": RoleDefinition(
        "Azure Service Bus Data Sender",
        actions=(
            "Microsoft.ServiceBus/*/queues/read",
            "Microsoft.ServiceBus/*/topics/read",
            "Microsoft.ServiceBus/*/topics/subscriptions/read",
        ),
        data_actions=("Microsoft.ServiceBus/*/send/action",),
    ),
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": RoleDefinition(
        "Azure Service Bus Data Receiver",
        actions=(
            "Microsoft.ServiceBus/*/queues/read",
            "Microsoft.ServiceBus/*/topics/read",
            "Microsoft.ServiceBus/*/topics/subscriptions/read",
        ),
        data_actions=("Microsoft.ServiceBus/*/receive/action",),
    ),
}


@dataclass
class RoleAssignment:
    scope: str
    name: str
    role_definition_id: str  # /subscriptions/{id}/providers/Microsoft.Authorization/roleDefinitions/{guid}
    principal_id: str
    principal_type: str
    description: str | None = None
    condition: str | None = None
    condition_version: str | None = None
    created_by: str | None = None
    created_on: str = ""

    @property
    def id(self) -> str:
        return f"{self.scope.rstrip('/')}{_PROVIDER}/{self.name}"

    @property
    def role_guid(self) -> str:
        return self.role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()

    @property
    def role(self) -> RoleDefinition | None:
        return BUILT_IN_ROLES.get(self.role_guid)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "roleDefinitionId": self.role_definition_id,
                "principalId": self.principal_id,
                "principalType": self.principal_type,
                "scope": self.scope,
                "description": self.description,
                "condition": self.condition,
                "conditionVersion": self.condition_version,
                "createdOn": self.created_on,
                "updatedOn": self.created_on,
                "createdBy": self.created_by,
                "updatedBy": self.created_by,
                "delegatedManagedIdentityResourceId": None,
            },
        }


def within(resource: str, scope: str) -> bool:
    """`resource` is `scope` or lies below it, compared segment by segment and case-insensitively."""
    res = key(resource).strip("/").split("/")
    sco = key(scope).strip("/").split("/")
    return len(sco) <= len(res) and res[: len(sco)] == sco


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def data_action_allowed(estate: Estate, principal_id: str, resource_id: str, data_action: str) -> bool:
    """Does any role assignment of the principal, at or above `resource_id`, grant `data_action`?"""
    for assignment in estate.role_assignments.values():
        role = assignment.role
        if (
            role is not None
            and key(assignment.principal_id) == key(principal_id)
            and within(resource_id, assignment.scope)
            and abac.action_allowed(role.data_actions, (), data_action)
        ):
            return True
    return False


class AuthorizationApi:
    """The role-assignment routes the product calls, with ARM's checks on the function's writes."""

    def __init__(self, estate: Estate, events: EventLog) -> None:
        self._estate = estate
        self._events = events

    def routes(self) -> list[Route]:
        one = "{scope*}" + _PROVIDER + "/{name}"
        return [
            arm_route("GET", "{scope*}" + _PROVIDER, API_VERSION, self.list_for_scope),
            arm_route("GET", one, API_VERSION, self.get),
            arm_route("PUT", one, API_VERSION, self.create),
            arm_route("DELETE", one, API_VERSION, self.delete),
        ]

    def get(self, request: ArmRequest) -> ArmResponse:
        found = self._estate.role_assignments.get(key(self._id(request)))
        if found is None:
            name = request.params["name"]
            raise ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
        return ArmResponse(200, found.to_json())

    def create(self, request: ArmRequest) -> ArmResponse:
        scope, name = self._scope(request), request.params["name"]
        properties = request.json_object().get("properties")
        if not isinstance(properties, dict):
            raise bad_request("The 'properties' of the role assignment are required.", code="InvalidRequestContent")
        role_definition_id = properties.get("roleDefinitionId")
        principal_id = properties.get("principalId")
        if not isinstance(role_definition_id, str) or not isinstance(principal_id, str):
            raise bad_request("roleDefinitionId and principalId are required.", code="InvalidRequestContent")
        principal_type = properties.get("principalType")
        if principal_type is not None and principal_type not in PRINCIPAL_TYPES:
            raise bad_request(f"The principal type '{principal_type}' is invalid.", code="InvalidPrincipalType")
        assignment = RoleAssignment(
            scope=scope,
            name=name,
            role_definition_id=role_definition_id,
            principal_id=principal_id,
            principal_type=principal_type or self._estate.directory_type(principal_id) or "ServicePrincipal",
            description=properties.get("description"),
            condition=properties.get("condition"),
            condition_version=properties.get("conditionVersion"),
            created_by=str(request.claims.get("oid")),
            created_on=now_text(),
        )
        if assignment.role is None:
            raise bad_request(
                f"The specified role definition with ID '{assignment.role_guid}' does not exist.",
                code="RoleDefinitionDoesNotExist",
            )
        if assignment.condition is not None:
            try:
                abac.check(assignment.condition)
            except abac.ConditionError as error:
                raise bad_request(f"The condition is invalid: {error}", code="InvalidCondition") from error
        self._authorize(request, WRITE, scope, assignment.id, request_attributes=_attributes(assignment))
        if principal_type is None and not self._estate.directory_replicated(principal_id, time.monotonic()):
            raise bad_request(
                f"Principal {principal_id.replace('-', '')} does not exist in the directory {self._estate.tenant_id}. "
                "Check that you have the correct principal ID. If you are creating this principal and then "
                "immediately assigning a role, this error might be related to a replication delay. In this case, "
                "set the role assignment principalType property to a value, such as ServicePrincipal, User, or "
                "Group.  See https://aka.ms/docs-principaltype",
                code="PrincipalNotFound",
            )
        duplicate = key(assignment.id) in self._estate.role_assignments or any(
            key(other.scope) == key(scope)
            and other.role_guid == assignment.role_guid
            and key(other.principal_id) == key(principal_id)
            for other in self._estate.role_assignments.values()
        )
        if duplicate:
            raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")
        self._estate.role_assignments[key(assignment.id)] = assignment
        self._events.emit(request.actor, assignment.id, WRITE)
        return ArmResponse(201, assignment.to_json())

    def delete(self, request: ArmRequest) -> ArmResponse:
        assignment_id = self._id(request)
        found = self._estate.role_assignments.get(key(assignment_id))
        if found is None:
            return ArmResponse(204)
        self._authorize(request, DELETE, found.scope, assignment_id, resource_attributes=_attributes(found))
        del self._estate.role_assignments[key(assignment_id)]
        self._events.emit(request.actor, assignment_id, DELETE)
        return ArmResponse(200, found.to_json())

    def list_for_scope(self, request: ArmRequest) -> ArmResponse:
        scope = self._scope(request)
        at_or_above, principal = _filter(request.query.get("$filter"))
        found = [
            a.to_json()
            for a in self._estate.role_assignments.values()
            if (within(scope, a.scope) or (not at_or_above and within(a.scope, scope)))
            and (principal is None or key(a.principal_id) == key(principal))
        ]
        return ArmResponse(200, {"value": found})

    def _authorize(
        self,
        request: ArmRequest,
        action: str,
        scope: str,
        target: str,
        *,
        request_attributes: dict[str, str] | None = None,
        resource_attributes: dict[str, str] | None = None,
    ) -> None:
        """The function's own writes must be allowed by one of its assignments, condition included."""
        caller = str(request.claims.get("oid", ""))
        if key(caller) != key(self._estate.function_identity.object_id):
            return
        context = abac.Context(action, request_attributes or {}, resource_attributes or {})
        granting = [
            a
            for a in self._estate.role_assignments.values()
            if key(a.principal_id) == key(caller)
            and within(scope, a.scope)
            and a.role is not None
            and abac.action_allowed(a.role.actions, a.role.not_actions, action)
        ]
        if any(a.condition is None or abac.evaluate(a.condition, context) for a in granting):
            return
        client = request.claims.get("appid", caller)
        why = "does not have authorization"
        if granting:
            why = "has an authorization with ABAC condition that is not fulfilled"
        raise ArmError(
            403,
            "AuthorizationFailed",
            f"The client '{client}' with object id '{caller}' {why} to perform action '{action}' over scope "
            f"'{target}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
        )

    def _scope(self, request: ArmRequest) -> str:
        scope = "/" + request.params["scope"].strip("/")
        if not scope.lower().startswith("/subscriptions/"):
            raise bad_request(f"The scope '{scope}' is not supported by the emulator.", code="InvalidScope")
        self._estate.require_subscription(scope.split("/")[2])
        return scope

    def _id(self, request: ArmRequest) -> str:
        return f"{self._scope(request)}{_PROVIDER}/{request.params['name']}"


def _attributes(assignment: RoleAssignment) -> dict[str, str]:
    """The request (write) or resource (delete) attributes ABAC conditions read, by their documented names
    ("Authorization actions and attributes", learn.microsoft.com/azure/role-based-access-control)."""
    return {
        "Microsoft.Authorization/roleAssignments:RoleDefinitionId": assignment.role_guid,
        "Microsoft.Authorization/roleAssignments:PrincipalId": assignment.principal_id.lower(),
        "Microsoft.Authorization/roleAssignments:PrincipalType": assignment.principal_type,
    }


def _filter(value: str | None) -> tuple[bool, str | None]:
    """(at or above only, principal id) from the `$filter`s ARM documents for this list."""
    if not value:
        return False, None
    text = value.strip()
    if text.lower() == "atscope()":
        return True, None
    lowered = text.lower()
    if lowered.startswith("principalid eq "):
        return False, text[len("principalid eq ") :].strip().strip("'")
    raise bad_request(f"The filter '{value}' is not supported.", code="InvalidFilter")
