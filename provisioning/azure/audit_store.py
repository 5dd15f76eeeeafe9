"""Where a spread-out audit keeps its parts and its reports: the function's own blob storage.
Storage errors are translated into the core's tree, like every adapter's."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from provisioning.audit import AuditReport
from provisioning.azure.arm import azure_errors
from provisioning.azure.storage import PARTS, REPORTS, blob_service
from provisioning.config import Config
from provisioning.report import HISTORY, to_html, to_json, to_markdown
from provisioning.trend import appended

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


class AuditStore:
    def __init__(self, credential: TokenCredential, config: Config) -> None:
        self._credential = credential
        self._config = config
        self._containers: dict[str, Any] = {}

    def put_input(self, run: str, index: int, text: str) -> None:
        """What one part audits (its servers and apps), stored by the start for the part's worker."""
        with azure_errors(f"store the input of audit {run} part {index}", service="storage"):
            self._container(PARTS).upload_blob(f"{run}/input-{index:05d}.json", text.encode(), overwrite=True)

    def read_input(self, run: str, index: int) -> str:
        with azure_errors(f"read the input of audit {run} part {index}", service="storage"):
            return str(self._container(PARTS).download_blob(f"{run}/input-{index:05d}.json").readall().decode())

    def put_part(self, run: str, index: int, text: str) -> int:
        """Store one part; return how many parts of the run are stored now."""
        with azure_errors(f"store audit {run} part {index}", service="storage"):
            parts = self._container(PARTS)
            parts.upload_blob(f"{run}/part-{index:05d}.json", text.encode(), overwrite=True)
        return self.parts_stored(run)

    def parts_stored(self, run: str) -> int:
        with azure_errors(f"count the stored parts of audit {run}", service="storage"):
            return sum(1 for _ in self._container(PARTS).list_blobs(name_starts_with=f"{run}/part-"))

    def claim_aggregation(self, run: str) -> bool:
        """Exactly one worker wins the right to write the run's report (create-if-absent)."""
        from azure.core.exceptions import ResourceExistsError

        with azure_errors(f"claim the report of audit {run}", service="storage"):
            try:
                self._container(PARTS).upload_blob(f"{run}/aggregated", b"", overwrite=False)
            except ResourceExistsError:
                return False
        return True

    def read_parts(self, run: str) -> list[str]:
        with azure_errors(f"read the parts of audit {run}", service="storage"):
            parts = self._container(PARTS)
            names = sorted(b.name for b in parts.list_blobs(name_starts_with=f"{run}/part-"))
            return [parts.download_blob(name).readall().decode() for name in names]

    def write_reports(self, report: AuditReport) -> None:
        """``latest.json``, ``latest.md`` and ``latest.html``: what GET /api/audit/latest serves; the
        audit is added to ``history.json``, the trend the HTML report draws. One worker writes a run's
        reports (``claim_aggregation``), so the history is not written concurrently by one run."""
        from azure.core.exceptions import ResourceNotFoundError

        with azure_errors("write the audit reports", service="storage"):
            reports = self._container(REPORTS)
            try:
                kept: str | None = reports.download_blob(HISTORY).readall().decode()
            except ResourceNotFoundError:
                kept = None
            history = appended(kept, report)
            for name, text in (
                (HISTORY, json.dumps(history, indent=1)),
                ("latest.json", to_json(report)),
                ("latest.md", to_markdown(report)),
                ("latest.html", to_html(report, history)),
            ):
                reports.upload_blob(name, text.encode(), overwrite=True)

    def _container(self, name: str) -> Any:
        if name not in self._containers:
            from azure.core.exceptions import ResourceExistsError

            container = blob_service(self._config, self._credential).get_container_client(name)
            with contextlib.suppress(ResourceExistsError):
                container.create_container()
            self._containers[name] = container
        return self._containers[name]
