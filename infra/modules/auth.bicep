// App Service Authentication on the function: validates Entra bearer tokens and forwards the caller
// as X-MS-CLIENT-PRINCIPAL. Anonymous requests still reach the function, which requires the function
// key on every route and the app role on write routes (triggers/caller.py). Only token validation
// is configured, so no client secret exists.

@description('Name of the function app.')
param siteName string

@description('Client id of the existing Entra app registration whose tokens callers present.')
param clientId string

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: siteName
}

resource authentication 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: This is authsettingsV2 with platform.enabled true; the check reads the V1 'enabled' property.
  // checkov:skip=CKV_AZURE_63: The check targets the 'web' configuration (HTTP logging of IIS); this resource is authsettingsV2. Requests are logged to Application Insights.
  // checkov:skip=CKV_AZURE_65: The check targets the 'web' configuration (IIS detailed errors); this resource is authsettingsV2.
  // checkov:skip=CKV_AZURE_66: The check targets the 'web' configuration (IIS failed request tracing); this resource is authsettingsV2.
  // checkov:skip=CKV_AZURE_80: .NET Framework version does not apply: a Python 3.11 app, and this resource is authsettingsV2.
  // checkov:skip=CKV_AZURE_88: Azure Files mounts do not apply: the app needs none, and this resource is authsettingsV2.
  // checkov:skip=CKV_AZURE_222: Public network access is a property of the site (waived there with its reason); this resource is authsettingsV2.
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${clientId}'
            clientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}
