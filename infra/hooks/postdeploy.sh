#!/bin/sh
# Event Grid refuses a subscription whose destination function does not exist yet. After the first
# deployment of the code, turn the subscription on and provision again; later runs of `azd up`
# include it from the start.
set -eu
if [ "${PASSWORDLESS_SUBSCRIBE_EVENTS:-false}" = "true" ]; then
  echo "The Event Grid subscription to eventgrid_reconcile_site is part of the deployment."
  exit 0
fi
echo "Subscribing eventgrid_reconcile_site to the subscription's ARM events."
azd env set PASSWORDLESS_SUBSCRIBE_EVENTS true
azd provision --no-prompt
