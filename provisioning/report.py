"""Audit reports: JSON (stable schema), Markdown (pipeline summaries) and one self-contained HTML page
(a Jinja2 template: autoescaped, with sorting, filtering and the trend chart inline, so it works offline)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioning.audit import AppAudit, AuditReport, AuditState, Drift, DriftKind
from provisioning.fixes import ADVICE, apply_command, fix_for, severity
from provisioning.trend import appended, chart

if TYPE_CHECKING:
    from jinja2 import Environment

SCHEMA_VERSION = 2
HISTORY = "history.json"


@cache
def templates() -> Environment:
    """Jinja2 is imported when a report is first rendered, not with the module: reconciling never renders."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("provisioning", "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True
    )


def to_document(report: AuditReport) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "started": report.started.isoformat(),
        "finished": report.finished.isoformat(),
        "remediate": report.remediate,
        "summary": {"apps": len(report.apps), **report.counts(), "drift_by_kind": report.drift_by_kind()},
        "incomplete": list(report.incomplete),
        "apps": [_app(audit) for audit in report.apps],
        "orphans": [_drift(d) for d in report.orphans],
        "catalog_queries": report.catalog_queries,
    }


def _app(audit: AppAudit) -> dict[str, Any]:
    return {
        "app": audit.app.id,
        "name": audit.app.display_name,
        "subscription": audit.app.subscription,
        "resource_group": audit.app.resource_group,
        "status": audit.status,
        "severity": severity(audit),
        "fix": fix_for(audit),
        "error": audit.error,
        "drift": [_drift(d) for d in audit.drift],
    }


def _drift(drift: Drift) -> dict[str, Any]:
    return {"kind": drift.kind.value, "target": drift.target, "detail": drift.detail, "fix": drift.fix}


def to_json(report: AuditReport) -> str:
    return json.dumps(to_document(report), indent=2, sort_keys=True)


def to_markdown(report: AuditReport) -> str:
    counts = report.counts()
    lines = [
        "# Passwordless connections audit",
        "",
        f"{len(report.apps)} app(s): "
        + ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        + f". Finished {report.finished:%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    lines += [f"> **Incomplete:** {reason}" for reason in report.incomplete] + ([""] if report.incomplete else [])
    kinds = {k: n for k, n in report.drift_by_kind().items() if n}
    if kinds:
        lines += ["| drift | count |", "|---|---|"] + [f"| {k} | {n} |" for k, n in sorted(kinds.items())] + [""]
    if report.orphans:
        lines += ["## Orphan principals", ""]
        lines += [f"- **{d.target}**: {d.detail}  \n  fix: `{d.fix}`" for d in report.orphans]
        lines.append("")
    for audit in report.apps:
        fix = fix_for(audit)
        if fix is None:
            continue
        lines.append(f"## {audit.app.display_name} — {audit.status} ({severity(audit)})")
        lines.append(f"`{audit.app.id}`")
        if audit.error:
            lines.append(f"- error: {audit.error}")
        lines += [f"- **{d.kind.value}**{f' ({d.target})' if d.target else ''}: {d.detail}" for d in audit.drift]
        lines += ["", f"fix: `{fix}`", ""]
    return "\n".join(lines)


def to_html(report: AuditReport, history: list[dict[str, Any]] | None = None) -> str:
    """The page; ``history`` (oldest first, this audit last) draws the trend when it has two runs."""
    rows = []
    for audit in report.apps:
        by_connection: dict[str, list[Drift]] = {}
        for drift in audit.drift:
            by_connection.setdefault(drift.target or "app", []).append(drift)
        rows.append({"audit": audit, "severity": severity(audit), "fix": fix_for(audit), "groups": by_connection})
    kinds = [(DriftKind(k), n) for k, n in report.drift_by_kind().items() if n]
    template = templates().get_template("report.html.j2")
    return template.render(
        report=report,
        counts=report.counts(),
        states=[state.value for state in AuditState],
        kinds=kinds,
        advice=ADVICE,
        rows=rows,
        chart=chart(history) if history and len(history) > 1 else None,
        apply_command=apply_command,
    )


def write_reports(report: AuditReport, directory: Path) -> dict[str, Path]:
    """Write ``audit.json``, ``audit.md`` and ``audit.html``, and add the audit to the directory's
    ``history.json`` (the trend); return the paths by format."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "audit.json", "markdown": directory / "audit.md", "html": directory / "audit.html"}
    kept = directory / HISTORY
    history = appended(kept.read_text(encoding="utf-8") if kept.is_file() else None, report)
    kept.write_text(json.dumps(history, indent=1), encoding="utf-8")
    paths["json"].write_text(to_json(report), encoding="utf-8")
    paths["markdown"].write_text(to_markdown(report), encoding="utf-8")
    paths["html"].write_text(to_html(report, history), encoding="utf-8")
    return paths
