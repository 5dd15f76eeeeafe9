// Role assignments of the function's identity at one resource group (a scope where it manages apps,
// attaches or creates identities, or reads database servers).

@description('Principal id of the function\'s user-assigned identity.')
param principalId string

@description('Role definition ids (full resource ids) to assign at this resource group.')
param roleDefinitionIds array

@description('Why the function holds these roles here.')
param purpose string

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleDefinitionId in roleDefinitionIds: {
  name: guid(resourceGroup().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Passwordless Provisioner: ${purpose}'
  }
}]
