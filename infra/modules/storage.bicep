// The function's own storage account: host state, deployment package, reports, audit parts, locks,
// run records, the audit queues and Event Grid dead letters. Reached by identity only: shared keys are off.

@description('Location of the resources.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Storage account name (3-24 lower-case letters and digits).')
param name string

@description('Replication of the account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_ZRS'

@description('Container holding the deployment package (Flex Consumption deploys from blob storage).')
param deploymentContainerName string

@description('Container receiving events Event Grid could not deliver.')
param deadLetterContainerName string

@description('Principal id of the function\'s user-assigned identity.')
param functionPrincipalId string

@description('Grant Storage Blob Data Owner instead of Storage Blob Data Contributor (see docs/permissions.md).')
param hostBlobDataOwner bool = false

// Containers, queues and tables the code and the host use; created here so that their names
// are visible in one place (the code also creates them when missing).
var containers = [
  deploymentContainerName
  deadLetterContainerName
  'passwordless-reports'
  'passwordless-audit-parts'
  'passwordless-locks'
  'passwordless-runs'
]
var queues = [
  'passwordless-audit'
  'passwordless-audit-parts'
]
var tables = [
  'passwordlessruns' // run records
  'passwordlessrequests' // the request index: apps requested over HTTP, for the audit's discovery
]

// Built-in data roles, scoped to this account only.
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var blobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var queueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var tableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var dataRoles = [
  hostBlobDataOwner ? blobDataOwner : blobDataContributor
  queueDataContributor
  tableDataContributor
]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Data access is by Entra identity only (shared keys off); the Flex deployment service, Event Grid dead-lettering and the function reach the account over its public endpoint. Restricting the network needs private endpoints and DNS zones owned by the platform's network team.
  // checkov:skip=CKV_AZURE_59: Same as CKV_AZURE_35: public endpoint, identity-only authorization, anonymous blob access off.
  // checkov:skip=CKV_AZURE_43: The name is 'stpwl' plus uniqueString() (13 lower-case letters and digits), 18 characters, computed at deployment; checkov sometimes resolves the interpolation and sometimes not, so the check is not deterministic here.
  // checkov:skip=CKV_AZURE_206: Zone-redundant by default (storageSkuName); the content is rebuildable (package redeployed by azd, reports by the next audit, locks expire in a minute), so geo-replication is not worth its cost.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    isHnsEnabled: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containers: {
  parent: blobService
  name: container
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource auditQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queue in queues: {
  parent: queueService
  name: queue
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource storageTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for table in tables: {
  parent: tableService
  name: table
}]

resource functionDataAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in dataRoles: {
  name: guid(account.id, functionPrincipalId, role)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Passwordless Provisioner: the function\'s own host storage, reports, audit parts, locks, runs and audit queues.'
  }
}]

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
