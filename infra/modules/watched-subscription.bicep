// One more subscription whose web apps the function manages: a resource group holding the
// subscription's system topic (ARM events in), and the function's roles at this subscription's
// scopes, the same least-privilege roles as in the function's own subscription (their definitions
// name this subscription among their assignable scopes). The event subscription to the function is
// added by main.bicep once the topic's identity may write dead letters.
// A subscription's system topic must live in a resource group of that same subscription, and a
// source takes one system topic (Microsoft Learn, "System topics in Azure Event Grid"); custom role
// definitions may list several subscriptions as assignable scopes (Microsoft Learn, "Azure custom
// roles", AssignableScopes), which is how the home subscription's roles are assigned here.
targetScope = 'subscription'

@description('Region of the resource group holding the system topic.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Resource group (created here) holding the system topic.')
param eventsResourceGroupName string

@description('Name of the system topic to create on this subscription.')
param systemTopicName string

@description('Principal id of the function\'s user-assigned identity.')
param functionPrincipalId string

@description('GUIDs of the role definitions: appConnector, serverReader, identityCreator, managedIdentityOperator.')
param roleGuids object

@description('Resource groups of this subscription whose web apps the function manages.')
param managedResourceGroups array = []

@description('Manage web apps anywhere in this subscription instead of in managedResourceGroups.')
param manageWholeSubscription bool = false

@description('Resource groups of this subscription holding user-assigned identities the function may attach.')
param identityResourceGroups array = []

@description('Resource groups of this subscription where apps may ask for `create:<name>` identities.')
param identityCreateResourceGroups array = []

@description('Resource groups of this subscription holding the catalog\'s database servers.')
param databaseServerResourceGroups array = []

var appConnector = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleGuids.appConnector)
var serverReader = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleGuids.serverReader)
var identityCreator = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleGuids.identityCreator)
var identityOperator = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleGuids.managedIdentityOperator)

resource eventsGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: eventsResourceGroupName
  location: location
  tags: tags
}

module topic 'system-topic.bicep' = {
  name: 'passwordless-system-topic'
  scope: eventsGroup
  params: {
    name: systemTopicName
    tags: tags
  }
}

module appAccess 'access.bicep' = [for rg in managedResourceGroups: {
  name: 'passwordless-apps-${uniqueString(rg)}'
  scope: resourceGroup(trim(rg))
  params: {
    principalId: functionPrincipalId
    roleDefinitionIds: [
      appConnector
    ]
    purpose: 'manage the passwordless connections of web apps in this resource group.'
  }
}]

resource subscriptionAppAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (manageWholeSubscription) {
  name: guid(subscription().id, functionPrincipalId, 'passwordless-app-connector-subscription')
  properties: {
    roleDefinitionId: appConnector
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Passwordless Provisioner: manage the passwordless connections of web apps in this subscription.'
  }
}

module identityAccess 'access.bicep' = [for rg in identityResourceGroups: {
  name: 'passwordless-identities-${uniqueString(rg)}'
  scope: resourceGroup(trim(rg))
  params: {
    principalId: functionPrincipalId
    roleDefinitionIds: [
      identityOperator
    ]
    purpose: 'attach the user-assigned identities of this resource group to web apps.'
  }
}]

module identityCreateAccess 'access.bicep' = [for rg in identityCreateResourceGroups: {
  name: 'passwordless-identity-create-${uniqueString(rg)}'
  scope: resourceGroup(trim(rg))
  params: {
    principalId: functionPrincipalId
    roleDefinitionIds: [
      identityCreator
    ]
    purpose: 'create user-assigned identities (create:<name>) for web apps of this resource group.'
  }
}]

module serverAccess 'access.bicep' = [for rg in databaseServerResourceGroups: {
  name: 'passwordless-servers-${uniqueString(rg)}'
  scope: resourceGroup(trim(rg))
  params: {
    principalId: functionPrincipalId
    roleDefinitionIds: [
      serverReader
    ]
    purpose: 'read the database servers of this resource group and their Entra administrators.'
  }
}]

output systemTopicPrincipalId string = topic.outputs.principalId
output eventsResourceGroupName string = eventsGroup.name
