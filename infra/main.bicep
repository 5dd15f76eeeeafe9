// Passwordless Provisioner: everything `azd up` deploys. Subscription scope, because the function's
// least-privilege roles are custom role definitions and are assigned at the resource groups (or the
// subscription) where it manages apps, identities and reads database servers.
// Database servers are not touched here: they belong to the platform team (docs/permissions.md).
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; part of every resource name.')
param environmentName string

@minLength(1)
@description('Region of the function and its resources (one that offers Flex Consumption).')
param location string

@description('Resource group of the function; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Comma-separated resource groups (this subscription) whose web apps the function manages.')
param managedResourceGroups string = ''

@description('Manage web apps anywhere in this subscription instead of in managedResourceGroups.')
param manageWholeSubscription bool = false

@description('Comma-separated resource groups holding user-assigned identities the function may attach to apps (Managed Identity Operator).')
param identityResourceGroups string = ''

@description('Comma-separated resource groups where apps may ask for `create:<name>` identities (identity creator role).')
param identityCreateResourceGroups string = ''

@description('Comma-separated resource groups holding the catalog\'s database servers (read of servers and their Entra admins).')
param databaseServerResourceGroups string = ''

@description('Comma-separated resource groups holding the catalog\'s RBAC targets (storage accounts, key vaults, Service Bus namespaces).')
param rbacTargetResourceGroups string = ''

@description('Comma-separated role definition ids (GUIDs) the catalog\'s RBAC targets assign: the only roles the function may hand out (see docs/permissions.md).')
param rbacRoleDefinitionIds string = ''

@description('Comma-separated subscription ids whose events and apps are handled; default this subscription.')
param allowedSubscriptions string = ''

@description('Target catalog file deployed with the app, relative to the app root (see docs/operations.md).')
param catalogPath string = 'catalog.yaml'

@description('Tag key prefix of requests.')
param tagPrefix string = 'passwordless'

@description('NCRONTAB schedule of the drift audit (six fields).')
param auditSchedule string = '0 0 */6 * * *'

@description('Let the scheduled audit reconcile the drifted apps it finds, not only report them.')
param auditRemediate bool = false

@description('App role the caller of write routes must carry; empty turns the check off (not recommended).')
param applyRole string = 'Passwordless.Apply'

@description('App Service Authentication in front of the function (on by default). Turn it off ONLY for a throwaway demo: write routes then answer 403 (fail closed) unless applyRole is empty too.')
param appServiceAuthentication bool = true

@description('Client id of the Entra app registration whose tokens callers present (the preprovision hook creates one with the app role when unset); required while appServiceAuthentication is on.')
param authClientId string = ''

@description('Resource id of an existing subnet delegated to Microsoft.App/environments for VNet integration; empty for none.')
param vnetSubnetId string = ''

@description('Create the Event Grid subscription to the function (needs the function code deployed; the postdeploy hook sets it).')
param subscribeToEvents bool = false

@description('JSON array of further subscriptions whose web apps the function manages, each {"subscriptionId", and optional "managedResourceGroups", "manageWholeSubscription", "identityResourceGroups", "identityCreateResourceGroups", "databaseServerResourceGroups"}: each gets a system topic delivering to the function and the function\'s roles (docs/operations.md).')
param watchedSubscriptions string = '[]'

@description('Name of an existing system topic of this subscription to reuse (one per source is allowed); empty creates one.')
param existingSystemTopicName string = ''

@description('Resource group of existingSystemTopicName.')
param existingSystemTopicResourceGroup string = ''

@description('Grant Storage Blob Data Owner on the function\'s own account instead of Storage Blob Data Contributor.')
param hostBlobDataOwner bool = false

@description('Replication of the function\'s storage account.')
param storageSkuName string = 'Standard_ZRS'

@description('Upper bound of instances the Flex Consumption plan scales out to.')
param maximumInstanceCount int = 40

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'passwordless-provisioner'
}
var groupName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var reuseSystemTopic = !empty(existingSystemTopicName)
var systemTopicName = reuseSystemTopic ? '' : 'evgst-passwordless-${token}'
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'passwordless-deadletter'

var appGroups = empty(managedResourceGroups) ? [] : split(managedResourceGroups, ',')
var identityGroups = empty(identityResourceGroups) ? [] : split(identityResourceGroups, ',')
var identityCreateGroups = empty(identityCreateResourceGroups) ? [] : split(identityCreateResourceGroups, ',')
var serverGroups = empty(databaseServerResourceGroups) ? [] : split(databaseServerResourceGroups, ',')
var watched = json(watchedSubscriptions)
var watchedIds = [for w in watched: w.subscriptionId]
var watchedScopes = [for w in watched: '/subscriptions/${w.subscriptionId}']
var eventsGroupName = 'rg-${environmentName}-events'
// No role ids, no delegation: an empty GuidEquals list is not a valid condition, and nothing to hand out.
var rbacRoleIds = empty(rbacRoleDefinitionIds) ? [] : split(replace(rbacRoleDefinitionIds, ' ', ''), ',')
var rbacGroups = empty(rbacRoleIds) || empty(rbacTargetResourceGroups) ? [] : split(rbacTargetResourceGroups, ',')

// ---- Least-privilege role definitions (docs/permissions.md explains each action) ----

resource appConnectorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, environmentName, 'passwordless-app-connector')
  properties: {
    roleName: 'Passwordless Provisioner App Connector (${environmentName})'
    description: 'Read web apps and slots, switch their managed identity on, read and write their app settings. Its sites/write allows any PATCH of the site (RBAC cannot narrow it to identity); the code sends only identity.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Web/sites/read'
          'Microsoft.Web/sites/write'
          'Microsoft.Web/sites/config/read'
          'Microsoft.Web/sites/config/write'
          'Microsoft.Web/sites/config/list/action'
          'Microsoft.Web/sites/slots/read'
          'Microsoft.Web/sites/slots/write'
          'Microsoft.Web/sites/slots/config/read'
          'Microsoft.Web/sites/slots/config/write'
          'Microsoft.Web/sites/slots/config/list/action'
          'Microsoft.ManagedIdentity/identities/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: concat([
      subscription().id
    ], watchedScopes)
  }
}

resource serverReaderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, environmentName, 'passwordless-server-reader')
  properties: {
    roleName: 'Passwordless Provisioner Database Server Reader (${environmentName})'
    description: 'Read Azure SQL, PostgreSQL flexible and MySQL flexible servers and their Entra administrators. No write, no firewall rule, no key.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.DBforPostgreSQL/flexibleServers/read'
          'Microsoft.DBforPostgreSQL/flexibleServers/administrators/read'
          'Microsoft.DBforMySQL/flexibleServers/read'
          'Microsoft.DBforMySQL/flexibleServers/administrators/read'
          'Microsoft.Sql/servers/read'
          'Microsoft.Sql/servers/administrators/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: concat([
      subscription().id
    ], watchedScopes)
  }
}

resource identityCreatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, environmentName, 'passwordless-identity-creator')
  properties: {
    roleName: 'Passwordless Provisioner Identity Creator (${environmentName})'
    description: 'Create user-assigned identities and attach them. No delete and no federated credentials (unlike Managed Identity Contributor).'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.ManagedIdentity/userAssignedIdentities/read'
          'Microsoft.ManagedIdentity/userAssignedIdentities/write'
          'Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: concat([
      subscription().id
    ], watchedScopes)
  }
}

// Managed Identity Operator (built-in): read and assign user-assigned identities, nothing else.
var managedIdentityOperator = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'f1a07417-d97a-45cb-824c-7a7467783830')

// ---- The function and its own resources ----

resource functionGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: groupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'passwordless-identity'
  scope: functionGroup
  params: {
    location: location
    tags: tags
    name: 'id-passwordless-${token}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'passwordless-monitoring'
  scope: functionGroup
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-passwordless-${token}'
    applicationInsightsName: 'appi-passwordless-${token}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'passwordless-storage'
  scope: functionGroup
  params: {
    location: location
    tags: tags
    name: 'stpwl${token}'
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
    functionPrincipalId: identity.outputs.principalId
    hostBlobDataOwner: hostBlobDataOwner
  }
}

module events 'modules/events.bicep' = {
  name: 'passwordless-events'
  scope: functionGroup
  params: {
    location: location
    tags: tags
    systemTopicName: systemTopicName
    outcomeTopicName: 'evgt-passwordless-${token}'
    functionPrincipalId: identity.outputs.principalId
  }
}

module functionApp 'modules/function.bicep' = {
  name: 'passwordless-function'
  scope: functionGroup
  params: {
    location: location
    tags: tags
    planName: 'plan-passwordless-${token}'
    name: 'func-passwordless-${token}'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    outcomeTopicEndpoint: events.outputs.outcomeTopicEndpoint
    catalogPath: catalogPath
    subscriptions: empty(allowedSubscriptions) ? join(concat([
      subscription().subscriptionId
    ], watchedIds), ',') : allowedSubscriptions
    tagPrefix: tagPrefix
    auditSchedule: auditSchedule
    auditRemediate: auditRemediate
    applyRole: applyRole
    appServiceAuthentication: appServiceAuthentication
    authClientId: authClientId
    vnetSubnetId: vnetSubnetId
    maximumInstanceCount: maximumInstanceCount
  }
}

// ---- Where the function acts: role assignments at the scopes it manages ----

module appAccess 'modules/access.bicep' = [for rg in appGroups: {
  name: 'passwordless-apps-${uniqueString(rg)}'
  scope: resourceGroup(trim(rg))
  params: {
    principalId: identity.outputs.principalId
    roleDefinitionIds: [
      appConnectorRole.id
    ]
    purpose: 'manage the passwordless connections of web apps in this resource group.'
  }
}]

resource subscriptionAppAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (manageWholeSubscription) {
  name: guid(subscription().id, environmentName, 'passwordless-app-connector-subscription')
  properties: {
    roleDefinitionId: appConnectorRole.id
    principalId: identity.outputs.principalId
    principalType: 'ServicePrincipal'
    description: 'Passwordless Provisioner: manage the passwordless connections of web apps in this subscription.'
  }
}

module identityAccess 'modules/access.bicep' = [for rg in identityGroups: {
  name: 'passwordless-identities-${uniqueString(rg)}'
  scope: resourceGroup(trim(rg))
  params: {
    principalId: identity.outputs.principalId
    roleDefinitionIds: [
      managedIdentityOperator
    ]
    purpose: 'attach the user-assigned identities of this resource group to web apps.'
  }
}]

module identityCreateAccess 'modules/access.bicep' = [for rg in identityCreateGroups: {
  name: 'passwordless-identity-create-${uniqueString(rg)}'
  scope: resourceGroup(trim(rg))
  params: {
    principalId: identity.outputs.principalId
    roleDefinitionIds: [
      identityCreatorRole.id
    ]
    purpose: 'create user-assigned identities (create:<name>) for web apps of this resource group.'
  }
}]

module serverAccess 'modules/access.bicep' = [for rg in serverGroups: {
  name: 'passwordless-servers-${uniqueString(rg)}'
  scope: resourceGroup(trim(rg))
  params: {
    principalId: identity.outputs.principalId
    roleDefinitionIds: [
      serverReaderRole.id
    ]
    purpose: 'read the database servers of this resource group and their Entra administrators.'
  }
}]

module rbacDelegation 'modules/rbac-delegation.bicep' = [for rg in rbacGroups: {
  name: 'passwordless-rbac-${uniqueString(rg)}'
  scope: resourceGroup(trim(rg))
  params: {
    principalId: identity.outputs.principalId
    roleDefinitionIds: rbacRoleIds
  }
}]

// ---- ARM events in: the subscription's system topic delivers to the function ----

resource existingSystemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  scope: resourceGroup(reuseSystemTopic ? existingSystemTopicResourceGroup : groupName)
  name: reuseSystemTopic ? existingSystemTopicName : 'unused'
}

module deadLetterAccess 'modules/dead-letter-access.bicep' = {
  name: 'passwordless-dead-letter-access'
  scope: functionGroup
  params: {
    storageAccountName: storage.outputs.name
    containerName: deadLetterContainerName
    systemTopicPrincipalId: reuseSystemTopic ? existingSystemTopic.identity.principalId : events.outputs.systemTopicPrincipalId
  }
}

module eventSubscription 'modules/event-subscription.bicep' = if (subscribeToEvents) {
  name: 'passwordless-event-subscription'
  scope: resourceGroup(reuseSystemTopic ? existingSystemTopicResourceGroup : groupName)
  params: {
    systemTopicName: reuseSystemTopic ? existingSystemTopicName : systemTopicName
    functionAppId: functionApp.outputs.id
    deadLetterStorageId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
  dependsOn: [
    deadLetterAccess
    events
  ]
}

// ---- Further subscriptions: each one's system topic delivers to the function, whose roles it holds there ----

module watchedSubscription 'modules/watched-subscription.bicep' = [for w in watched: {
  name: 'passwordless-watch-${uniqueString(w.subscriptionId, environmentName)}'
  scope: subscription(w.subscriptionId)
  params: {
    location: location
    tags: tags
    eventsResourceGroupName: eventsGroupName
    systemTopicName: 'evgst-passwordless-${toLower(uniqueString(w.subscriptionId, environmentName))}'
    functionPrincipalId: identity.outputs.principalId
    roleGuids: {
      appConnector: appConnectorRole.name
      serverReader: serverReaderRole.name
      identityCreator: identityCreatorRole.name
      managedIdentityOperator: 'f1a07417-d97a-45cb-824c-7a7467783830'
    }
    managedResourceGroups: contains(w, 'managedResourceGroups') ? w.managedResourceGroups : []
    manageWholeSubscription: contains(w, 'manageWholeSubscription') ? w.manageWholeSubscription : false
    identityResourceGroups: contains(w, 'identityResourceGroups') ? w.identityResourceGroups : []
    identityCreateResourceGroups: contains(w, 'identityCreateResourceGroups') ? w.identityCreateResourceGroups : []
    databaseServerResourceGroups: contains(w, 'databaseServerResourceGroups') ? w.databaseServerResourceGroups : []
  }
}]

module watchedDeadLetterAccess 'modules/dead-letter-access.bicep' = [for (w, i) in watched: {
  name: 'passwordless-dead-letter-${uniqueString(w.subscriptionId, environmentName)}'
  scope: functionGroup
  params: {
    storageAccountName: storage.outputs.name
    containerName: deadLetterContainerName
    systemTopicPrincipalId: watchedSubscription[i].outputs.systemTopicPrincipalId
  }
}]

module watchedEventSubscription 'modules/event-subscription.bicep' = [for (w, i) in (subscribeToEvents ? watched : []): {
  name: 'passwordless-events-${uniqueString(w.subscriptionId, environmentName)}'
  scope: resourceGroup(w.subscriptionId, eventsGroupName)
  params: {
    systemTopicName: 'evgst-passwordless-${toLower(uniqueString(w.subscriptionId, environmentName))}'
    functionAppId: functionApp.outputs.id
    deadLetterStorageId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
  dependsOn: [
    watchedDeadLetterAccess
    watchedSubscription
  ]
}]

// ---- Outputs (azd keeps them in the environment; the hooks read them) ----

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = functionGroup.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_URL string = 'https://${functionApp.outputs.defaultHostName}'
output FUNCTION_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output PASSWORDLESS_FUNCTION_OBJECT_ID string = identity.outputs.principalId
output PASSWORDLESS_OUTCOME_TOPIC_ENDPOINT string = events.outputs.outcomeTopicEndpoint
