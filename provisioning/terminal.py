"""What the CLI prints: tables and one-line outcomes for people (rich), or JSON for pipelines.

Results go to stdout, progress and errors to stderr, so ``--json`` output pipes cleanly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from provisioning.models import ClientType
from provisioning.resource_ids import AppRef

if TYPE_CHECKING:
    from provisioning.audit import AppAudit, AuditReport
    from provisioning.catalog_check import CatalogProblem
    from provisioning.errors import ProvisioningError
    from provisioning.models import Catalog
    from provisioning.reconciler import ReconcileResult


class Output:
    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def _json(self, document: Any) -> None:
        print(json.dumps(document, indent=2, sort_keys=True))

    @contextmanager
    def working(self, what: str) -> Iterator[None]:
        """A spinner while a slow call runs (only on a terminal)."""
        if not self.err.is_terminal:
            yield
            return
        with self.err.status(f"{escape(what)}…"):
            yield

    @contextmanager
    def progress(self, what: str, *, total: int) -> Iterator[Callable[[AppAudit], None]]:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, console=self.err, transient=True, disable=not self.err.is_terminal) as bar:
            task = bar.add_task(what, total=total)

            def advance(outcome: AppAudit) -> None:
                bar.update(task, advance=1, description=f"{what} {outcome.app.display_name}")

            yield advance

    def error(self, error: ProvisioningError, code: int) -> None:
        field = getattr(error, "field", None)
        if self.json_mode:
            kind = type(error).__name__
            self._json({"error": {"kind": kind, "message": str(error), "field": field, "exit_code": int(code)}})
        self.err.print(f"[bold red]error:[/] {escape(str(error))}")

    def nothing_requested(self, app: AppRef, prefix: str) -> None:
        if self.json_mode:
            self._json({"app": app.id, "outcome": "not-requested", "plan": None})
            return
        self.out.print(
            f"{escape(app.display_name)} carries no '{escape(prefix)}' tag and no kept request: nothing to do"
        )

    def reconciled(self, result: ReconcileResult, correlation_id: str | None) -> None:
        document = result.to_dict() | ({"correlation_id": correlation_id} if correlation_id else {})
        if self.json_mode:
            self._json(document)
            return
        self.out.print(escape(result.plan.describe()))
        if correlation_id is None:
            return
        name = escape(result.app.display_name)
        steps = len(result.plan.steps)
        if result.applied:
            line = f"[green]✔ converged[/] {name}: {steps} step(s) applied and verified in {result.seconds:.1f} s"
        else:
            line = f"[green]✔ in sync[/] {name}: nothing to apply"
        self.out.print(f"{line}; run recorded (correlation id {correlation_id})")

    def status(self, document: dict[str, Any]) -> None:
        if self.json_mode:
            self._json(document)
            return
        state = "in sync" if document.get("in_sync") else ("drifted" if document.get("requested") else "not managed")
        self.out.print(f"[bold]{escape(document['name'])}[/]  {escape(document['app'])}  [bold]{state}[/]")
        identity = document["identity"]
        self.out.print(f"system identity: {identity['system_principal_id'] or 'off'}")
        for rid, ids in identity["user_assigned"].items():
            self.out.print(f"user-assigned: {escape(rid.rsplit('/', 1)[-1])} (client id {ids['client_id']})")
        table = Table("target", "role", "principal", "bound to", "grants", title="connections")
        for c in document["connections"]:
            grants = "\n".join(c.get("grants", [])) or c.get("error", "none")
            table.add_row(c["target"], c["role"], c["principal"], str(c.get("binding") or "-"), escape(grants))
        self.out.print(table)
        settings = Table("setting", "value", title="managed app settings")
        for key, value in document["settings"].items():
            settings.add_row(key, escape(value))
        self.out.print(settings)
        for drift in document["drift"]:
            where = f" ({drift['target']})" if drift["target"] else ""
            self.out.print(f"[yellow]drift[/] {drift['kind']}{escape(where)}: {escape(drift['detail'])}")
        runs = Table("at", "trigger", "outcome", "steps", "error", title="latest runs")
        for run in document["runs"]:
            runs.add_row(run["at"], run["trigger"], run["outcome"], str(run["steps"]), escape(run["error"] or ""))
        self.out.print(runs)

    def apps(self, rows: list[dict[str, Any]]) -> None:
        if self.json_mode:
            self._json({"apps": rows})
            return
        table = Table("app", "subscription", "resource group", "connections", "identity", "client")
        for row in rows:
            connections = ", ".join(row["connections"]) or f"[red]invalid:[/] {escape(row.get('invalid', ''))}"
            table.add_row(
                escape(row["name"]), row["subscription"], escape(row["resource_group"]), connections,
                row["identity"] or "-", row["client"] or "(from the stack)",
            )  # fmt: skip
        self.out.print(table)
        self.out.print(f"{len(rows)} managed app(s)")

    def audited(
        self, report: AuditReport, document: dict[str, Any], paths: dict[str, Path], correlation_id: str | None = None
    ) -> None:
        if self.json_mode:
            self._json(document)
        else:
            table = Table("app", "resource group", "status", "found")
            for audit in report.apps:
                if audit.status == "clean":
                    continue
                found = "; ".join(sorted({d.kind.value for d in audit.drift})) or (audit.error or "")
                table.add_row(
                    escape(audit.app.display_name), escape(audit.app.resource_group), audit.status, escape(found)
                )
            if table.row_count:
                self.out.print(table)
        for reason in report.incomplete:
            self.err.print(f"[yellow]incomplete:[/] {escape(reason)}")
        for kind, path in paths.items():
            self.err.print(f"{kind} report: {path}")
        counts = ", ".join(f"{n} {status}" for status, n in report.counts().items() if n)
        orphans = f"; {len(report.orphans)} orphan principal(s)" if report.orphans else ""
        self.err.print(f"{len(report.apps)} app(s) audited: {counts or 'none'}{orphans}")
        if correlation_id is not None:
            self.err.print(f"remediations recorded as runs (trigger cli, correlation id {correlation_id})")

    def catalog_checked(self, source: str, catalog: Catalog | None, problems: list[CatalogProblem]) -> None:
        if self.json_mode:
            self._json(
                {
                    "file": source,
                    "valid": catalog is not None,
                    "targets": sorted(catalog.targets) if catalog else [],
                    "errors": [{"line": p.line, "message": p.message} for p in problems],
                }
            )
            return
        if catalog is not None:
            self.out.print(
                f"{escape(source)}: valid, {len(catalog.targets)} target(s): {', '.join(sorted(catalog.targets))}"
            )
            return
        for problem in problems:
            self.err.print(escape(problem.format(source)))
        self.err.print(f"{escape(source)}: {len(problems)} error(s)")

    def targets(self, catalog: Catalog) -> None:
        clients = [c.value for c in ClientType]
        roles = {name: sorted(p.value for p in profile.privileges) for name, profile in catalog.profiles.items()}
        rows: list[dict[str, Any]] = [
            {
                "name": t.name,
                "engine": t.engine.value,
                "server": t.server.id,
                "database": t.database,
                "schemas": list(t.schemas),
                "roles": sorted(t.roles),
                "allowed_sources": list(t.allowed_sources),
                "tls": t.tls.value,
                "on_remove": t.on_remove.value,
            }
            for t in sorted(catalog.targets.values(), key=lambda t: t.name)
        ]
        if self.json_mode:
            self._json({"targets": rows, "roles": roles, "client_types": clients})
            return
        table = Table("target", "engine", "server", "database", "roles", "who may connect")
        for row in rows:
            table.add_row(
                row["name"], row["engine"], escape(str(row["server"]).rsplit("/", 1)[-1]), escape(row["database"]),
                ", ".join(row["roles"]), escape("\n".join(row["allowed_sources"])),
            )  # fmt: skip
        self.out.print(table)
        for name, privileges in sorted(roles.items()):
            self.out.print(f"role [bold]{name}[/]: {', '.join(privileges)}")
        self.out.print(
            f"client types: {', '.join(clients)} (tag {{prefix}}-client; default: from the app's stack; "
            f"{ClientType.NONE.value}: no framework, only the generic settings such as host, port and database)"
        )
