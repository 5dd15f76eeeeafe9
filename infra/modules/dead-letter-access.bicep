// Lets the system topic's identity write undeliverable events into one container of the
// function's storage account (dead-lettering with the topic's identity, no key).

@description('Name of the function\'s storage account.')
param storageAccountName string

@description('Container receiving dead letters.')
param containerName string

@description('Principal id of the system topic\'s system-assigned identity.')
param systemTopicPrincipalId string

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${storageAccountName}/default/${containerName}'
}

var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, systemTopicPrincipalId, blobDataContributor)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: systemTopicPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Passwordless Provisioner: Event Grid dead letters of the ARM event subscription.'
  }
}
