// The Function App on the Flex Consumption plan (Python 3.11), running as a user-assigned identity,
// with every setting the code reads. tests/infra/test_settings_consistency.py keeps `appSettings`
// equal to what provisioning/ and triggers/ read.

@description('Location of the resources.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the Flex Consumption plan.')
param planName string

@description('Name of the function app.')
param name string

@description('Resource id of the function\'s user-assigned identity.')
param identityId string

@description('Client id of the function\'s user-assigned identity.')
param identityClientId string

@description('Principal (object) id of the function\'s user-assigned identity.')
param identityPrincipalId string

@description('Name of the function\'s storage account.')
param storageAccountName string

@description('Blob endpoint of the function\'s storage account.')
param blobEndpoint string

@description('Queue endpoint of the function\'s storage account.')
param queueEndpoint string

@description('Table endpoint of the function\'s storage account.')
param tableEndpoint string

@description('Container holding the deployment package.')
param deploymentContainerName string

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@description('Endpoint of the Event Grid topic for outcome events.')
param outcomeTopicEndpoint string

@description('Target catalog: a path relative to the app root (deployed with the app), or an absolute path.')
param catalogPath string

@description('Comma-separated subscription ids whose events and apps the function handles.')
param subscriptions string

@description('Tag key prefix of requests.')
param tagPrefix string

@description('NCRONTAB schedule of the drift audit.')
param auditSchedule string

@description('Whether the scheduled audit reconciles the drifted apps it finds.')
param auditRemediate bool

@description('App role the App Service Authentication caller needs on write routes; empty turns the check off.')
param applyRole string

@description('App Service Authentication in front of the function; off only for a demo (write routes then answer 403).')
param appServiceAuthentication bool = true

@description('Client id of the Entra app registration used by App Service Authentication.')
param authClientId string

@description('Resource id of a subnet delegated to Microsoft.App/environments for VNet integration; empty for none.')
param vnetSubnetId string = ''

@description('Upper bound of instances the plan scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// Public-cloud or sovereign-cloud ARM endpoint, from the deployment's own environment.
var armEndpoint = environment().resourceManager

// Every setting the function reads, and the identity-based host storage connection. No key, no
// connection string with a secret: storage, Event Grid and ARM are reached with the identity
// named by AZURE_CLIENT_ID (DefaultAzureCredential) and AzureWebJobsStorage__clientId (the host).
var appSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  AZURE_CLIENT_ID: identityClientId
  PASSWORDLESS_CATALOG: catalogPath
  PASSWORDLESS_CLOUD: environment().name
  PASSWORDLESS_ARM_ENDPOINT: armEndpoint
  PASSWORDLESS_ARM_SCOPE: '${armEndpoint}.default'
  PASSWORDLESS_FUNCTION_OBJECT_ID: identityPrincipalId
  PASSWORDLESS_SUBSCRIPTIONS: subscriptions
  PASSWORDLESS_TAG_PREFIX: tagPrefix
  PASSWORDLESS_AUDIT_SCHEDULE: auditSchedule
  PASSWORDLESS_AUDIT_REMEDIATE: auditRemediate ? 'true' : 'false'
  PASSWORDLESS_APPLY_ROLE: applyRole
  PASSWORDLESS_OUTCOME_TOPIC_ENDPOINT: outcomeTopicEndpoint
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy exists only in some regions; a lost zone delays events, which Event Grid retries for 24 hours, and the audit catches up.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Event Grid (AzureFunction delivery) and deployment pipelines call it over the public endpoint; every route needs a function key and write routes an Entra app role. Put it behind a private endpoint with vnetSubnetId where the platform offers one.
  // checkov:skip=CKV_AZURE_17: Callers are Event Grid and pipelines, authenticated by function keys and Entra tokens; Event Grid delivery cannot present a client certificate.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales out per event from zero; a worker count does not apply to it.
  // checkov:skip=CKV_AZURE_213: No always-on instances behind a load balancer to evict; Flex Consumption replaces unhealthy instances itself, and failures surface as Event Grid retries and run records.
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: empty(vnetSubnetId) ? null : vnetSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No FTP and no basic-auth SCM publishing: deployments use Entra (azd signs in as the operator).
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// On by default: the function trusts X-MS-CLIENT-PRINCIPAL only when the platform sets it
// (WEBSITE_AUTH_ENABLED=True), so without this module every write route answers 403.
module authentication 'auth.bicep' = if (appServiceAuthentication) {
  name: 'passwordless-authentication'
  params: {
    siteName: site.name
    clientId: authClientId
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
