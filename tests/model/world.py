"""The product as it is deployed, driven the way Azure drives it: ARM changes made in the emulator
raise Event Grid events, which are delivered to the Event Grid handler; the status route answers the
"second plan"; the audit runs over Resource Graph discovery. Nothing here reaches into the core's
internals, so the core can be reshaped without touching the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import azure.functions as func

from provisioning.audit import audit
from provisioning.errors import TransientError
from provisioning.resource_ids import parse_app_id
from provisioning.runtime import shared_runtime
from tests.conftest import fresh_worker_pacing
from tests.data_planes import STORAGE_AUDIENCE, call
from tests.estates import ACCOUNT_ID, APPS_GROUP, STORAGE, SUBSCRIPTION
from tests.functions_index import user_function
from tests.model.expected import CUSTOM_PROFILES, PROFILES
from triggers.eventgrid import handle_event

EVENT_GRID_ATTEMPTS = 3  # Event Grid retries a delivery that raised
SEEDED_BLOB = "seed.json"  # in every container of the model's targets, for readers to read


@dataclass(frozen=True)
class TargetSpec:
    name: str
    database: str
    on_remove: str  # report | revoke


@dataclass(frozen=True)
class RbacSpec:
    """A blob container reached through an Azure role assignment at the container's own scope."""

    name: str
    container: str
    on_remove: str  # report | revoke

    @property
    def scope(self) -> str:
        return f"{ACCOUNT_ID}/blobServices/default/containers/{self.container}"


# Every engine's world also offers two blob containers: archive (report) and files (revoke).
RBAC_TARGETS = (RbacSpec("archive", "archive", "report"), RbacSpec("files", "files", "revoke"))
RBAC_ROLES = ("reader", "writer")  # Storage Blob Data Reader / Contributor
Assignment = tuple[str, str]  # (principal id, role definition GUID), both lower-case


class World:
    """One engine's server with two target databases, two blob containers, the emulator, and the catalog file the
    function reads (a catalog edit is a new file and a fresh worker, as a redeploy gives)."""

    def __init__(
        self, emulator: Any, server: Any, server_id: str, targets: tuple[TargetSpec, ...], catalog: Path, run_id: str
    ) -> None:
        self.emulator = emulator
        self.run_id = run_id
        self.on_history: Callable[[], None] = lambda: None
        self.server = server
        self.server_id = server_id
        self.targets = {t.name: t for t in targets}
        self.rbac_targets = {t.name: t for t in RBAC_TARGETS}
        self.catalog_path = catalog
        for spec in RBAC_TARGETS:
            emulator.put_blob(ACCOUNT_ID, spec.container, SEEDED_BLOB, b"{}")
        self._delivered = 0
        self.blobs_written = 0

    # -- the platform team's catalog --------------------------------------------------------
    def write_catalog(self, offered: dict[str, tuple[str, ...]]) -> None:
        """``offered``: target -> roles it offers; a target not in it is not in the catalog."""
        document = {
            "profiles": CUSTOM_PROFILES,
            "targets": [
                {
                    **_offered_to_the_app(spec, offered),
                    "engine": self.server.engine,
                    "server": self.server_id,
                    "database": spec.database,
                    **({} if self.server.engine == "sql" else {"tls": "disable"}),
                }
                for spec in self.targets.values()
                if spec.name in offered
            ]
            + [
                {**_offered_to_the_app(spec, offered), "kind": "storage-blob", "resource": spec.scope}
                for spec in self.rbac_targets.values()
                if spec.name in offered
            ]
            + [self._other_teams_target()],
        }
        assert set(PROFILES) >= {r for name, roles in offered.items() if name in self.targets for r in roles}
        self.catalog_path.write_text(json.dumps(document), encoding="utf-8")
        shared_runtime.cache_clear()  # the next invocation runs on a worker that read the new catalog

    def _other_teams_target(self) -> dict[str, object]:
        """A target of another team's, never offered to the app: a catalog is never empty (it would be
        invalid) even when the platform team has removed both of the app's targets."""
        spec = next(iter(self.targets.values()))
        return {
            "name": "other-team",
            "engine": self.server.engine,
            "server": self.server_id,
            "database": spec.database,
            "roles": ["reader"],
            "allowed_sources": [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-other-team"],
            **({} if self.server.engine == "sql" else {"tls": "disable"}),
        }

    # -- Event Grid -------------------------------------------------------------------------
    def start_history(self) -> None:
        fresh_worker_pacing()  # each history is a day of an app's life, not one burst of requests
        self.emulator.clear_events()
        self._delivered = 0
        self.on_history()
        shared_runtime.cache_clear()

    def deliver_events(self, app_id: str) -> list[str]:
        """Deliver every event raised since the last delivery about this app (including those of the
        product's own writes, which it must ignore) to the Event Grid handler, retrying as Event Grid
        does when the handler raises a transient error. Returns the handler's outcomes."""
        events = self.emulator.events[self._delivered :]
        self._delivered += len(events)
        outcomes: list[str] = []
        for event in events:
            if not event["subject"].lower().startswith(app_id.lower()):
                continue
            payload = {
                "id": event["id"],
                "eventType": event["eventType"],
                "subject": event["subject"],
                "eventTime": datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")),
                "data": event["data"],
            }
            for attempt in range(EVENT_GRID_ATTEMPTS):
                try:
                    outcomes.append(handle_event(payload, shared_runtime()))
                    break
                except TransientError:
                    if attempt == EVENT_GRID_ATTEMPTS - 1:
                        raise
        return outcomes

    # -- role assignments and the blob data plane --------------------------------------------
    def assignments(self, target: str) -> dict[str, Assignment]:
        """Every role assignment at the target's scope, by id, read from ARM's own state."""
        scope = self.rbac_targets[target].scope.lower()
        return {
            a["id"].lower(): (
                a["properties"]["principalId"].lower(),
                a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1].lower(),
            )
            for a in self.emulator.role_assignments()
            if a["properties"]["scope"].lower() == scope
        }

    def blob_access(self, app_id: str, target: str, client_id: str | None) -> tuple[int, int]:
        """(status of reading a blob, status of writing one) in the target's container, called with the
        app's own token as App Service gives it (a user-assigned identity chosen by its client id)."""
        path = f"/blob/{STORAGE}/{self.rbac_targets[target].container}"
        self.blobs_written += 1
        return (
            call(self.emulator, app_id, STORAGE_AUDIENCE, "GET", f"{path}/{SEEDED_BLOB}", client_id=client_id),
            call(
                self.emulator, app_id, STORAGE_AUDIENCE, "PUT", f"{path}/by-app-{self.blobs_written}", b"x",
                client_id=client_id,
            ),
        )  # fmt: skip

    # -- HTTP status and the audit ----------------------------------------------------------
    def status(self, app_id: str) -> dict[str, Any]:
        request = func.HttpRequest(method="GET", url="/api/connections", params={"app": app_id}, body=b"")
        response = user_function("http_connection_status")(request)
        document: dict[str, Any] = json.loads(response.get_body())
        assert response.status_code == 200, document
        return document

    def audit_kinds(self, app_id: str, principals: set[str], *, remediate: bool = False) -> set[tuple[str, str | None]]:
        """(kind, target) pairs the audit reports for this app, and orphans among its principals."""
        runtime = shared_runtime()
        app = parse_app_id(app_id)
        sites = [site for site in runtime.discovery.list_tagged_apps() if site.app.key == app.key]
        report = audit(runtime.reconciler, sites, remediate=remediate)
        found = {(d.kind.value, d.target) for entry in report.apps for d in entry.drift}
        errors = [entry.error for entry in report.apps if entry.error]
        assert not errors, errors
        found |= {
            (d.kind.value, d.target) for d in report.orphans if any(f"principal {p!r}" in d.detail for p in principals)
        }
        return found


def _offered_to_the_app(spec: TargetSpec | RbacSpec, offered: dict[str, tuple[str, ...]]) -> dict[str, object]:
    """What every catalog entry of the app's targets says, whatever its kind."""
    return {
        "name": spec.name,
        "roles": list(offered[spec.name]),
        "allowed_sources": [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}"],
        "on_remove": spec.on_remove,
    }
