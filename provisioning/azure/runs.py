"""Run records: each reconcile's outcome in Table storage, newest first, readable per app."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provisioning.azure.storage import table_service
from provisioning.config import Config
from provisioning.resource_ids import AppRef

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

TABLE = "passwordlessruns"
MAX_PLAN_CHARS = 30_000  # Table storage caps a string property at 64 KiB (32K UTF-16 characters)
NEWEST_FIRST = 10**13


class RunRecords:
    def __init__(self, credential: TokenCredential, config: Config) -> None:
        self._credential = credential
        self._config = config
        self._table: Any = None

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
        entity = {
            "PartitionKey": partition_of(app),
            "RowKey": f"{NEWEST_FIRST - int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}",
            "app": app.id,
            "trigger": trigger,
            "correlation_id": correlation_id,
            "outcome": outcome,
            "at": now.isoformat(),
            "seconds": round(seconds, 3),
            "steps": len(plan["steps"]) if plan else 0,
            "plan": json.dumps(plan)[:MAX_PLAN_CHARS] if plan else "",
            "error": (error or "")[:MAX_PLAN_CHARS],
        }
        self._get_table().create_entity(entity)

    def list_runs(self, app: AppRef, *, limit: int = 10) -> list[dict[str, Any]]:
        """The app's latest runs, newest first; empty when it never ran."""
        entities = self._get_table().query_entities(
            "PartitionKey eq @partition", parameters={"partition": partition_of(app)}, results_per_page=limit
        )
        runs: list[dict[str, Any]] = []
        for entity in entities:
            plan = json.loads(entity["plan"]) if entity.get("plan") else None
            runs.append(
                {
                    "at": entity["at"],
                    "trigger": entity["trigger"],
                    "correlation_id": entity["correlation_id"],
                    "outcome": entity["outcome"],
                    "seconds": entity["seconds"],
                    "steps": entity["steps"],
                    "error": entity.get("error") or None,
                    "plan": plan,
                }
            )
            if len(runs) == limit:
                break
        return runs

    def _get_table(self) -> Any:
        if self._table is None:
            self._table = table_service(self._config, self._credential).create_table_if_not_exists(TABLE)
        return self._table


def partition_of(app: AppRef) -> str:
    """Table keys may not hold '/', so the (case-insensitive) app id is hashed."""
    return hashlib.sha256(app.key.encode()).hexdigest()
