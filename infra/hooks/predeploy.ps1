# Validate the target catalog that is deployed with the app, with the product's own loader, before
# azd packages it. PASSWORDLESS_CATALOG_PATH is relative to the repository root (the app root).
$ErrorActionPreference = 'Stop'
$catalog = if ($env:PASSWORDLESS_CATALOG_PATH) { $env:PASSWORDLESS_CATALOG_PATH } else { 'catalog.yaml' }
if (-not (Test-Path $catalog)) {
  Write-Error "The target catalog '$catalog' is missing: copy infra/catalog.example.yaml to $catalog and edit it (docs/operations.md)."
}
$python = if (Test-Path '.venv/Scripts/python.exe') { '.venv/Scripts/python.exe' } else { 'python' }
& $python -c "import sys; from provisioning.catalog import load_catalog; c = load_catalog(sys.argv[1]); print(f'catalog {sys.argv[1]}: {len(c.targets)} target(s)')" $catalog
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
