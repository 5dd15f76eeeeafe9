#!/bin/sh
# App Service Authentication is on by default, and it needs an Entra app registration whose tokens
# callers present, defining the app role the write routes require. Create one on the first run when
# none is named (PASSWORDLESS_AUTH_CLIENT_ID); the demo-only switch
# PASSWORDLESS_APP_SERVICE_AUTHENTICATION=false skips it (write routes then answer 403).
set -eu
if [ "${PASSWORDLESS_APP_SERVICE_AUTHENTICATION:-true}" = "false" ]; then
  echo "App Service Authentication is OFF (demo only): write routes will answer 403 unless PASSWORDLESS_APPLY_ROLE is empty." >&2
  exit 0
fi
if [ -n "${PASSWORDLESS_AUTH_CLIENT_ID:-}" ]; then
  echo "App Service Authentication uses app registration ${PASSWORDLESS_AUTH_CLIENT_ID}."
  exit 0
fi
name="passwordless-provisioner-${AZURE_ENV_NAME}"
echo "Creating app registration ${name} with the app role from infra/auth-app-roles.json."
client_id=$(az ad app create --display-name "$name" --sign-in-audience AzureADMyOrg \
  --app-roles @infra/auth-app-roles.json --query appId --output tsv)
az ad app update --id "$client_id" --identifier-uris "api://${client_id}"
az ad sp create --id "$client_id" --output none
azd env set PASSWORDLESS_AUTH_CLIENT_ID "$client_id"
echo "Assign app role Passwordless.Apply of ${name} to each pipeline identity (docs/operations.md)."
