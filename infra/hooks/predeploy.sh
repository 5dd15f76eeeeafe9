#!/bin/sh
# Validate the target catalog that is deployed with the app, with the product's own loader, before
# azd packages it: every error at once, each with its line (exit 2 when there is any).
# PASSWORDLESS_CATALOG_PATH is relative to the repository root (the app root).
set -eu
catalog="${PASSWORDLESS_CATALOG_PATH:-catalog.yaml}"
if [ ! -f "$catalog" ]; then
  echo "The target catalog '$catalog' is missing: copy infra/catalog.example.yaml to $catalog and edit it (docs/operations.md)." >&2
  exit 1
fi
python=.venv/bin/python
[ -x "$python" ] || python=python3
"$python" -m provisioning catalog check "$catalog"
