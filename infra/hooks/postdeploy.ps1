# Event Grid refuses a subscription whose destination function does not exist yet. After the first
# deployment of the code, turn the subscription on and provision again; later runs of `azd up`
# include it from the start.
$ErrorActionPreference = 'Stop'
if ($env:PASSWORDLESS_SUBSCRIBE_EVENTS -eq 'true') {
  Write-Host 'The Event Grid subscription to eventgrid_reconcile_site is part of the deployment.'
  exit 0
}
Write-Host "Subscribing eventgrid_reconcile_site to the subscription's ARM events."
azd env set PASSWORDLESS_SUBSCRIBE_EVENTS true
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
azd provision --no-prompt
exit $LASTEXITCODE
