"""The function's own storage account: by identity in Azure, by connection string locally (Azurite)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provisioning.errors import PermanentError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from provisioning.config import Config

# The audit's containers; the HTTP API binds to the reports' one, so they live in this light module.
REPORTS = "passwordless-reports"
PARTS = "passwordless-audit-parts"


def blob_service(config: Config, credential: TokenCredential) -> Any:
    from azure.storage.blob import BlobServiceClient

    if config.storage_blob_uri:
        return BlobServiceClient(config.storage_blob_uri, credential=credential)
    return BlobServiceClient.from_connection_string(_connection(config))


def table_service(config: Config, credential: TokenCredential) -> Any:
    from azure.data.tables import TableServiceClient

    if config.storage_table_uri:
        return TableServiceClient(endpoint=config.storage_table_uri, credential=credential)
    return TableServiceClient.from_connection_string(_connection(config))


def _connection(config: Config) -> str:
    if not config.storage_connection:
        raise PermanentError(
            "storage is not configured: set AzureWebJobsStorage__blobServiceUri and "
            "AzureWebJobsStorage__tableServiceUri (identity), or AzureWebJobsStorage (connection string)"
        )
    return config.storage_connection
