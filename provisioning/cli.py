"""Command line for operators: plan, apply and audit with the same core the triggers use."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from provisioning.audit import AppAudit, audit
from provisioning.config import Config
from provisioning.errors import ProvisioningError
from provisioning.reconciler import Mode
from provisioning.report import to_document, write_reports
from provisioning.requests import request_from_body
from provisioning.resource_ids import parse_app_id
from provisioning.runtime import Runtime, build_runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("plan", "apply"):
        sub = commands.add_parser(name, help=f"{name} the connections of one app")
        sub.add_argument("--app", required=True, help="site or slot resource id")
        sub.add_argument("--request", type=Path, help="JSON request file; default: the app's tags")
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
    audit_cmd = commands.add_parser("audit", help="audit every tagged app for drift")
    audit_cmd.add_argument("--remediate", action="store_true", help="reconcile drifted apps")
    audit_cmd.add_argument("--report-dir", type=Path, help="write audit.json, audit.md and audit.html here")
    audit_cmd.add_argument("--json", action="store_true", help="print the JSON report")
    args = parser.parse_args(argv)
    try:
        runtime = build_runtime(Config.from_environment())
        if args.command == "audit":
            return _audit(runtime, args)
        mode = Mode(args.command)
        app = parse_app_id(args.app, field="--app")
        if args.request:
            body = json.loads(args.request.read_text(encoding="utf-8"))
            body.setdefault("app", app.id)
            result = runtime.reconciler.reconcile_request(request_from_body(body), mode)
        else:
            tagged = runtime.reconciler.reconcile_app(app, mode)
            if tagged is None:
                print(f"{app.id} carries no '{runtime.config.tag_prefix}' tag: nothing to do")
                return 0
            result = tagged
    except (ProvisioningError, json.JSONDecodeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.plan.describe())
    return 0


def _audit(runtime: Runtime, args: argparse.Namespace) -> int:
    def progress(number: int, outcome: AppAudit) -> None:
        print(f"[{number}] {outcome.status:<10} {outcome.app.display_name}", file=sys.stderr)

    report = audit(
        runtime.reconciler, runtime.discovery.list_tagged_apps(), remediate=args.remediate, progress=progress
    )
    if args.report_dir:
        for kind, path in write_reports(report, args.report_dir).items():
            print(f"{kind} report: {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(to_document(report), indent=2))
    counts = report.counts()
    print(f"{len(report.apps)} app(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()), file=sys.stderr)
    return 1 if counts["error"] else 0
