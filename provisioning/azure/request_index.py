"""The request index: the apps whose request a pipeline made over HTTP, one Table entity each, in the
function's own storage account (the one its locks, runs and audit reports live in).

The audit finds tagged apps through Resource Graph; an HTTP request is kept in an app setting, and app
settings are not in Resource Graph (Microsoft Learn, "Azure Resource Graph table and resource type
reference": its ``appserviceresources`` table holds ``config/web`` and workflows, no app settings). So
the reconciler records here each app whose converged request is a pipeline's, and forgets it when the
request is withdrawn or the app is deleted; the audit reads the index beside Resource Graph.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import azure_errors
from provisioning.azure.runs import partition_of
from provisioning.azure.storage import table_service
from provisioning.config import Config
from provisioning.models import IndexedRequest
from provisioning.resource_ids import AppRef, parse_app_id

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

TABLE = "passwordlessrequests"
ROW = "request"  # one entity per app, in the app's own partition (its hashed id, as run records use)


class RequestIndex:
    def __init__(self, credential: TokenCredential, config: Config) -> None:
        self._credential = credential
        self._config = config
        self._table: Any = None

    def record(self, app: AppRef, request: str) -> None:
        """Keep (or replace) the app's entry: its id, its request as kept on the app, and when."""
        entity = {
            "PartitionKey": partition_of(app),
            "RowKey": ROW,
            "app": app.id,
            "request": request,
            "at": datetime.now(UTC).isoformat(),
        }
        with azure_errors(f"record the request of {app.id} in the request index"):
            self._get_table().upsert_entity(entity)

    def forget(self, app: AppRef) -> None:
        """Drop the app's entry; an app never indexed is not an error (``TableClient.delete_entity``
        answers a 404 by returning, azure-data-tables 12.7)."""
        with azure_errors(f"drop {app.id} from the request index"):
            self._get_table().delete_entity(partition_of(app), ROW)

    def list_indexed(self) -> list[IndexedRequest]:
        """Every indexed app (the SDK follows the table's continuation tokens)."""
        with azure_errors("read the request index"):
            return [
                IndexedRequest(parse_app_id(entity["app"], field="request index app"), entity["request"])
                for entity in self._get_table().list_entities(select=["app", "request"])
            ]

    def _get_table(self) -> Any:
        if self._table is None:
            self._table = table_service(self._config, self._credential).create_table_if_not_exists(TABLE)
        return self._table
