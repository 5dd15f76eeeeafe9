// App Service Authentication on the function: validates Entra bearer tokens and forwards the caller
// as X-MS-CLIENT-PRINCIPAL, stripping any copy a caller sends (the platform then sets
// WEBSITE_AUTH_ENABLED=True, which the function checks before it reads the header at all).
// Unauthenticated requests to the write routes (/api/connections/apply, /api/audit) get 401 here;
// every other route is excluded and stays behind the function key: Event Grid delivery
// (/runtime/webhooks/eventgrid) cannot present an Entra token, and reads need none. The function checks
// the app role itself on the write routes, so it holds whether excludedPaths match exactly or by
// prefix. Only token validation is configured, so no client secret exists.

@description('Name of the function app.')
param siteName string

@description('Client id of the Entra app registration whose tokens callers present (a GUID: an empty one fails the deployment).')
@minLength(36)
@maxLength(36)
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
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [
        '/api/connections/plan'
        '/api/connections'
        '/api/audit/latest'
        '/api/openapi.json'
        '/runtime/webhooks/eventgrid'
      ]
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
