// The function's right to hand out the catalog's data-plane roles at one resource group holding
// RBAC targets (storage accounts, key vaults, Service Bus namespaces): Role Based Access Control
// Administrator (built-in f58310d9-a9f6-439a-9e8d-f62e7b41a168) under an ABAC condition that lets it add or
// remove only assignments of the listed role definitions, and only to service principals (managed
// identities). The condition is the "Constrain roles and principal types" example of Microsoft's
// "Examples to delegate Azure role assignment management with conditions"; the product builds the
// same text (provisioning/rbac_roles.py delegation_condition) and tests hold the two equal.

@description('Principal id of the function\'s user-assigned identity.')
param principalId string

@description('Role definition ids (GUIDs) the catalog\'s RBAC targets assign, and no others.')
param roleDefinitionIds array

var roleIds = join(roleDefinitionIds, ', ')
var condition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${roleIds}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${roleIds}} AND @Resource[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'}))'

resource delegation 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, 'passwordless-rbac-delegation')
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'f58310d9-a9f6-439a-9e8d-f62e7b41a168')
    principalId: principalId
    principalType: 'ServicePrincipal'
    condition: condition
    conditionVersion: '2.0'
    description: 'Passwordless Provisioner: assign only the catalog\'s data-plane roles, only to managed identities, at the RBAC targets of this resource group.'
  }
}
