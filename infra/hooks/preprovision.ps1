# App Service Authentication is on by default, and it needs an Entra app registration whose tokens
# callers present, defining the app role the write routes require. Create one on the first run when
# none is named (PASSWORDLESS_AUTH_CLIENT_ID); the demo-only switch
# PASSWORDLESS_APP_SERVICE_AUTHENTICATION=false skips it (write routes then answer 403).
$ErrorActionPreference = 'Stop'
if ($env:PASSWORDLESS_APP_SERVICE_AUTHENTICATION -eq 'false') {
  Write-Warning 'App Service Authentication is OFF (demo only): write routes will answer 403 unless PASSWORDLESS_APPLY_ROLE is empty.'
  exit 0
}
if ($env:PASSWORDLESS_AUTH_CLIENT_ID) {
  Write-Host "App Service Authentication uses app registration $($env:PASSWORDLESS_AUTH_CLIENT_ID)."
  exit 0
}
$name = "passwordless-provisioner-$($env:AZURE_ENV_NAME)"
Write-Host "Creating app registration $name with the app role from infra/auth-app-roles.json."
$clientId = az ad app create --display-name $name --sign-in-audience AzureADMyOrg `
  --app-roles '@infra/auth-app-roles.json' --query appId --output tsv
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
az ad app update --id $clientId --identifier-uris "api://$clientId"
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
az ad sp create --id $clientId --output none
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
azd env set PASSWORDLESS_AUTH_CLIENT_ID $clientId
Write-Host "Assign app role Passwordless.Apply of $name to each pipeline identity (docs/operations.md)."
