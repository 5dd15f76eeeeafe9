// Event Grid: the subscription's system topic (ARM events in), and a custom topic for outcome
// events (out). The function publishes with its identity ("EventGrid Data Sender"); local auth
// (access keys) is off on the custom topic.

@description('Location of the custom topic.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the system topic to create on this subscription; empty when an existing one is reused.')
param systemTopicName string

@description('Name of the custom topic for outcome events.')
param outcomeTopicName string

@description('Principal id of the function\'s user-assigned identity.')
param functionPrincipalId string

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (!empty(systemTopicName)) {
  name: empty(systemTopicName) ? 'unused' : systemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource outcomeTopic 'Microsoft.EventGrid/topics@2022-06-15' = {
  // checkov:skip=CKV_AZURE_193: Subscribers (chat-ops, ticketing, SIEM) and the function use the public endpoint; publishing needs an Entra token with EventGrid Data Sender because local (key) auth is off.
  name: outcomeTopicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'EventGridSchema'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

// EventGrid Data Sender, on this one topic only.
var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource outcomePublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(outcomeTopic.id, functionPrincipalId, eventGridDataSender)
  scope: outcomeTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Passwordless Provisioner: publish outcome events to this topic.'
  }
}

output systemTopicPrincipalId string = empty(systemTopicName) ? '' : systemTopic.identity.principalId
output outcomeTopicEndpoint string = outcomeTopic.properties.endpoint
output outcomeTopicName string = outcomeTopic.name
