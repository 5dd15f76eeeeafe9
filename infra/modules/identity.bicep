// The function's own user-assigned identity. Its client id goes into AZURE_CLIENT_ID (so
// DefaultAzureCredential picks it) and AzureWebJobsStorage__clientId; its principal id into
// PASSWORDLESS_FUNCTION_OBJECT_ID (own events are ignored; the admin check compares it).

@description('Location of the identity.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the identity.')
param name string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
