// Delivers the subscription's ARM events about web apps and slots to eventgrid_reconcile_site.
// Deployed once the function's code exists (Event Grid checks the destination function when the
// subscription is created): azd's postdeploy hook turns `subscribeToEvents` on and provisions again.

@description('Name of the system topic (Microsoft.Resources.Subscriptions) in this resource group.')
param systemTopicName string

@description('Name of the event subscription.')
param name string = 'passwordless-reconcile-site'

@description('Resource id of the function app.')
param functionAppId string

@description('Resource id of the storage account receiving dead letters.')
param deadLetterStorageId string

@description('Container receiving dead letters.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an event is retried before it is dead-lettered.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

// What the handler reacts to (provisioning/azure/events.py): site and slot writes and deletes, their
// configuration, and tag writes through the Tags API.
var operationNames = [
  'Microsoft.Web/sites/write'
  'Microsoft.Web/sites/delete'
  'Microsoft.Web/sites/slots/write'
  'Microsoft.Web/sites/slots/delete'
  'Microsoft.Web/sites/config/write'
  'Microsoft.Web/sites/slots/config/write'
  'Microsoft.Resources/tags/write'
]

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource reconcileSite 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: name
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/eventgrid_reconcile_site'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
      ]
      enableAdvancedFilteringOnArrays: true
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: operationNames
        }
        {
          // Tag writes name any resource: keep only those under a web app (string filters ignore case).
          operatorType: 'StringContains'
          key: 'subject'
          values: [
            '/providers/Microsoft.Web/sites/'
          ]
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output id string = reconcileSite.id
