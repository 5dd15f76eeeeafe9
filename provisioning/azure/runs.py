"""Run records: each reconcile's outcome in Table storage, newest first, readable per app.

A plan is kept whole: in the row while it fits a Table property, otherwise in a blob the row names.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import azure_errors
from provisioning.azure.storage import blob_service, table_service
from provisioning.config import Config
from provisioning.resource_ids import AppRef

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

TABLE = "passwordlessruns"
PLANS = "passwordless-runs"  # container of the plans too long for a row
# Table storage caps a string property at 64 KiB, 32K UTF-16 characters; json.dumps writes ASCII only.
# https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model#property-types
MAX_PROPERTY_CHARS = 30_000
TRUNCATED = " [truncated]"
NEWEST_FIRST = 10**13
REJECTED_PARTITION = "rejected-events"


class RunRecords:
    def __init__(self, credential: TokenCredential, config: Config) -> None:
        self._credential = credential
        self._config = config
        self._table: Any = None
        self._plans: Any = None

    def record(
        self,
        app: AppRef,
        *,
        trigger: str,
        correlation_id: str,
        outcome: str,
        plan: dict[str, Any] | None = None,
        seconds: float = 0.0,
        error: str | None = None,
    ) -> None:
        """Keep one run. Row keys sort newest first so reading the latest runs is one short query."""
        now = datetime.now(UTC)
        partition = partition_of(app)
        row = f"{NEWEST_FIRST - int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}"
        text = json.dumps(plan) if plan else ""
        in_blob = len(text) > MAX_PROPERTY_CHARS
        entity = {
            "PartitionKey": partition,
            "RowKey": row,
            "app": app.id,
            "trigger": trigger,
            "correlation_id": correlation_id,
            "outcome": outcome,
            "at": now.isoformat(),
            "seconds": round(seconds, 3),
            "steps": len(plan["steps"]) if plan else 0,
            "plan": "" if in_blob else text,
            "plan_blob": f"{partition}/{row}.json" if in_blob else "",
            "error": _bounded(error or ""),
        }
        with azure_errors(f"record a run of {app.id}", service="storage"):
            if in_blob:
                self._get_plans().upload_blob(entity["plan_blob"], text.encode(), overwrite=True)
            self._get_table().create_entity(entity)

    def record_rejected(self, event_id: str, *, trigger: str, error: str) -> None:
        """Keep an event that named no app (malformed), in partition ``rejected-events``."""
        now = datetime.now(UTC)
        entity = {
            "PartitionKey": REJECTED_PARTITION,
            "RowKey": f"{NEWEST_FIRST - int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}",
            "app": "",
            "trigger": trigger,
            "correlation_id": event_id,
            "outcome": "rejected",
            "at": now.isoformat(),
            "error": _bounded(error),
        }
        with azure_errors(f"record rejected event {event_id}", service="storage"):
            self._get_table().create_entity(entity)

    def list_runs(self, app: AppRef, *, limit: int = 10) -> list[dict[str, Any]]:
        """The app's latest runs, newest first, each with its whole plan; empty when it never ran."""
        with azure_errors(f"read the runs of {app.id}", service="storage"):
            entities = self._get_table().query_entities(
                "PartitionKey eq @partition", parameters={"partition": partition_of(app)}, results_per_page=limit
            )
            runs: list[dict[str, Any]] = []
            for entity in entities:
                runs.append(
                    {
                        "at": entity["at"],
                        "trigger": entity["trigger"],
                        "correlation_id": entity["correlation_id"],
                        "outcome": entity["outcome"],
                        "seconds": entity["seconds"],
                        "steps": entity["steps"],
                        "error": entity.get("error") or None,
                        "plan": self._plan_of(entity),
                    }
                )
                if len(runs) == limit:
                    break
        return runs

    def _plan_of(self, entity: dict[str, Any]) -> Any:
        if entity.get("plan_blob"):
            return json.loads(self._get_plans().download_blob(entity["plan_blob"]).readall())
        return json.loads(entity["plan"]) if entity.get("plan") else None

    def _get_plans(self) -> Any:
        if self._plans is None:
            from azure.core.exceptions import ResourceExistsError

            container = blob_service(self._config, self._credential).get_container_client(PLANS)
            with suppress(ResourceExistsError):
                container.create_container()
            self._plans = container
        return self._plans

    def _get_table(self) -> Any:
        if self._table is None:
            self._table = table_service(self._config, self._credential).create_table_if_not_exists(TABLE)
        return self._table


def _bounded(text: str) -> str:
    """An error message is prose: past a property's size it is cut, and says so."""
    if len(text) <= MAX_PROPERTY_CHARS:
        return text
    return text[: MAX_PROPERTY_CHARS - len(TRUNCATED)] + TRUNCATED


def partition_of(app: AppRef) -> str:
    """Table keys may not hold '/', so the (case-insensitive) app id is hashed."""
    return hashlib.sha256(app.key.encode()).hexdigest()
