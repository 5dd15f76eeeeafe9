// The system topic of one subscription (ARM events about its resources), with the identity its
// event subscription dead-letters with. Event Grid allows one system topic per source.

@description('Name of the system topic.')
param name string

@description('Tags applied to the topic.')
param tags object

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
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

output principalId string = systemTopic.identity.principalId
