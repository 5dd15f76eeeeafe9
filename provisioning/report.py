"""Audit reports: JSON (stable schema), Markdown (pipeline summaries) and one self-contained HTML page."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from provisioning.audit import AuditReport, DriftKind

SCHEMA_VERSION = 1
ADVICE = {
    DriftKind.IDENTITY_DISABLED: "Someone switched the app's managed identity off; remediation switches it on again.",
    DriftKind.IDENTITY_DETACHED: "The requested user-assigned identity is no longer attached to the app.",
    DriftKind.PRINCIPAL_MISSING: "The database user for the app is gone; remediation creates it again.",
    DriftKind.PRINCIPAL_STALE_BINDING: "The database user is bound to another identity (app recreated?): logins "
    "fail until it is rebound.",
    DriftKind.PRIVILEGE_MISSING: "A grant the role profile needs was revoked; the app may fail on some queries.",
    DriftKind.PRIVILEGE_EXCESS: "The principal holds more than its role profile allows; review who granted it.",
    DriftKind.SETTING_MISSING: "A managed app setting was deleted; the app cannot find its database.",
    DriftKind.SETTING_CHANGED: "A managed app setting was edited by hand; remediation restores it.",
    DriftKind.PRIVILEGE_UNREQUESTED: "An identity the provisioner attached is no longer requested; it is never "
    "detached automatically: detach it once the app no longer needs it.",
    DriftKind.ORPHAN_PRINCIPAL: "A principal no managed app uses; remove it or restore its app.",
    DriftKind.PRINCIPAL_CONFLICT: "Another live app of the same name holds this principal; it is never rebound: "
    "the platform team renames one app or drops the other's principal.",
    DriftKind.ADMIN_MISSING: "The function is no longer an Entra admin of the server; run the command in the detail.",
    DriftKind.REQUEST_INVALID: "Fix the app's tag; the detail names the tag and the position.",
    DriftKind.POLICY_DENIED: "The catalog does not offer this target or role to this app; ask the platform team.",
    DriftKind.ROLE_MISSING: "The app's identity lacks the data-plane role it asked for; the detail has the command.",
    DriftKind.ROLE_EXCESS: "A role assignment this product made is no longer requested; remediation revokes it.",
    DriftKind.ROLE_STALE: "A role assignment this product made serves an identity no app uses any more; delete it "
    "with the command in the detail.",
}


def to_document(report: AuditReport) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "started": report.started.isoformat(),
        "finished": report.finished.isoformat(),
        "remediate": report.remediate,
        "summary": {"apps": len(report.apps), **report.counts(), "drift_by_kind": report.drift_by_kind()},
        "apps": [
            {
                "app": audit.app.id,
                "status": audit.status,
                "error": audit.error,
                "drift": [{"kind": d.kind.value, "target": d.target, "detail": d.detail} for d in audit.drift],
            }
            for audit in report.apps
        ],
        "orphans": [{"kind": d.kind.value, "target": d.target, "detail": d.detail} for d in report.orphans],
        "catalog_queries": report.catalog_queries,
    }


def to_json(report: AuditReport) -> str:
    return json.dumps(to_document(report), indent=2, sort_keys=True)


def to_markdown(report: AuditReport) -> str:
    counts = report.counts()
    lines = [
        "# Passwordless connections audit",
        "",
        f"{len(report.apps)} app(s): {counts['clean']} clean, {counts['drifted']} drifted, "
        f"{counts['remediated']} remediated, {counts['error']} error(s). "
        f"Finished {report.finished:%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    kinds = {k: n for k, n in report.drift_by_kind().items() if n}
    if kinds:
        lines += ["| drift | count |", "|---|---|"] + [f"| {k} | {n} |" for k, n in sorted(kinds.items())] + [""]
    if report.orphans:
        lines += ["## Orphan principals", ""]
        lines += [f"- **{d.target}**: {d.detail}" for d in report.orphans]
        lines.append("")
    for audit in report.apps:
        if audit.status == "clean":
            continue
        lines.append(f"## {audit.app.display_name} — {audit.status}")
        lines.append(f"`{audit.app.id}`")
        if audit.error:
            lines.append(f"- error: {audit.error}")
        lines += [f"- **{d.kind.value}**{f' ({d.target})' if d.target else ''}: {d.detail}" for d in audit.drift]
        lines.append("")
    return "\n".join(lines)


def to_html(report: AuditReport) -> str:
    e = html.escape
    counts = report.counts()
    cards = "".join(
        f'<div class="card {status}"><b>{counts[status]}</b><span>{status}</span></div>'
        for status in ("clean", "drifted", "remediated", "error")
    )
    kinds = [(DriftKind(k), n) for k, n in report.drift_by_kind().items() if n]
    kind_rows = "".join(
        f"<tr><td><code>{e(k.value)}</code></td><td>{n}</td><td>{e(ADVICE[k])}</td></tr>" for k, n in kinds
    )
    app_rows = []
    for audit in report.apps:
        details = "".join(
            f"<li><code>{e(d.kind.value)}</code> {e(d.target or '')} {e(d.detail)}</li>" for d in audit.drift
        )
        if audit.error:
            details += f"<li class='error'>{e(audit.error)}</li>"
        app_rows.append(
            f"<tr class='{audit.status}'><td title='{e(audit.app.id)}'>{e(audit.app.display_name)}</td>"
            f"<td>{e(audit.status)}</td><td><ul>{details}</ul></td></tr>"
        )
    orphan_rows = "".join(f"<tr><td>{e(d.target or '')}</td><td>{e(d.detail)}</td></tr>" for d in report.orphans)
    orphan_section = (
        f"<h2>Orphan principals</h2><table><tr><th>target</th><th>principal</th></tr>{orphan_rows}</table>"
        if report.orphans
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Passwordless connections audit</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b}}
.cards{{display:flex;gap:1rem}} .card{{padding:1rem 1.5rem;border-radius:8px;background:#eef}}
.card b{{display:block;font-size:2rem}} .card.drifted{{background:#fde8c8}} .card.error{{background:#f8d0d0}}
.card.clean{{background:#d6f0d6}} table{{border-collapse:collapse;margin-top:1.5rem;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}}
tr.drifted td:first-child{{border-left:4px solid #e69b00}} tr.error td:first-child{{border-left:4px solid #c00}}
ul{{margin:0;padding-left:1rem}}
</style></head><body>
<h1>Passwordless connections audit</h1>
<p>{len(report.apps)} app(s) audited, finished {e(f"{report.finished:%Y-%m-%d %H:%M:%S} UTC")}.
{"Remediation was on." if report.remediate else "Read-only: nothing was changed."}</p>
<div class="cards">{cards}</div>
<h2>Drift by kind</h2>
<table><tr><th>kind</th><th>count</th><th>what to do</th></tr>{kind_rows or "<tr><td colspan=3>none</td></tr>"}</table>
{orphan_section}
<h2>Apps</h2>
<table><tr><th>app</th><th>status</th><th>drift</th></tr>{"".join(app_rows)}</table>
</body></html>
"""


def write_reports(report: AuditReport, directory: Path) -> dict[str, Path]:
    """Write ``audit.json``, ``audit.md`` and ``audit.html``; return their paths by format."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "audit.json", "markdown": directory / "audit.md", "html": directory / "audit.html"}
    paths["json"].write_text(to_json(report), encoding="utf-8")
    paths["markdown"].write_text(to_markdown(report), encoding="utf-8")
    paths["html"].write_text(to_html(report), encoding="utf-8")
    return paths
