"""``passwordless``: the operator's command line, running the same core as the triggers.

Exit codes, so a pipeline can branch on them (docs/operations.md):
  0  done; nothing to report
  1  drift found (``audit --fail-on-drift``) or a reconcile that did not converge
  2  usage error or invalid input (a bad id, tag, request file, catalog or setting)
  3  refused: the catalog does not allow it, the function is not a database admin, or another
     owner holds what the request needs
  4  transient: throttled, unreachable or busy; the same command later should succeed
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioning.errors import (
    AdminMissing,
    Conflict,
    InvalidRequest,
    NotFound,
    PolicyViolation,
    ProvisioningError,
    TransientError,
)
from provisioning.resource_ids import AppRef, parse_app_id

if TYPE_CHECKING:
    from provisioning.config import Config
    from provisioning.runtime import Runtime

TRIGGER = "cli"


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    INVALID = 2
    DENIED = 3
    TRANSIENT = 4


def exit_code_for(error: ProvisioningError) -> Exit:
    if isinstance(error, TransientError):
        return Exit.TRANSIENT
    if isinstance(error, PolicyViolation | AdminMissing | Conflict):
        return Exit.DENIED
    if isinstance(error, InvalidRequest | NotFound):
        return Exit.INVALID
    return Exit.FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="passwordless", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--settings",
        type=Path,
        metavar="FILE",
        help="take the settings from a Functions local.settings.json (its Values) instead of the environment",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print JSON on stdout instead of text")
    one_app = argparse.ArgumentParser(add_help=False)
    one_app.add_argument("--app", help="site or slot resource id")
    one_app.add_argument("-g", "--resource-group", help="resource group (with -n)")
    one_app.add_argument("-n", "--name", help="web app name (with -g)")
    one_app.add_argument("--slot", help="deployment slot (with -g/-n)")
    one_app.add_argument(
        "--subscription", help="subscription id (with -g/-n); default: the one in PASSWORDLESS_SUBSCRIPTIONS"
    )

    for name, summary in (("plan", "show what apply would change (changes nothing)"), ("apply", "reconcile one app")):
        sub = commands.add_parser(name, parents=[output, one_app], help=summary, description=summary)
        sub.add_argument("--request", type=Path, help="JSON request file (a pipeline's request); default: the tags")
    commands.add_parser(
        "status",
        parents=[output, one_app],
        help="one app: identity, principal and grants per target, settings, drift, last runs",
    )
    commands.add_parser("list", parents=[output], help="managed apps and their connections")
    audit = commands.add_parser("audit", parents=[output], help="audit every managed app for drift")
    audit.add_argument("--remediate", action="store_true", help="reconcile the apps found drifted")
    audit.add_argument("--fail-on-drift", action="store_true", help="exit 1 when any app is not clean")
    audit.add_argument("--report-dir", type=Path, help="write audit.json, audit.md and audit.html here")
    catalog = commands.add_parser("catalog", help="work with a target catalog file")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True, metavar="COMMAND")
    check = catalog_commands.add_parser(
        "check", parents=[output], help="validate a catalog file: every error, with its line"
    )
    check.add_argument("file", type=Path)
    targets = commands.add_parser("targets", parents=[output], help="what the catalog offers: targets, roles, clients")
    targets.add_argument("--catalog", type=Path, help="catalog file; default: PASSWORDLESS_CATALOG")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from provisioning import terminal

    out = terminal.Output(json_mode=args.json)
    try:
        if args.settings is not None:
            os.environ.update(_local_settings(args.settings))
        if args.command == "catalog":
            return _catalog_check(out, args.file)
        if args.command == "targets":
            return _targets(out, args.catalog)
        from provisioning.config import Config
        from provisioning.runtime import build_runtime

        config = Config.from_environment()
        if args.command in ("plan", "apply", "status"):
            app, body = _app_and_request(args, config)
            runtime = build_runtime(config)
            if args.command == "status":
                from provisioning.status import app_status

                with out.working(f"reading {app.display_name}"):
                    out.status(app_status(runtime, app))
                return Exit.OK
            return _reconcile(out, runtime, app, body, apply=args.command == "apply")
        runtime = build_runtime(config)
        if args.command == "list":
            return _list(out, runtime)
        return _audit(out, runtime, args)
    except ProvisioningError as exc:
        code = exit_code_for(exc)
        out.error(exc, code)
        return code


def _local_settings(path: Path) -> dict[str, str]:
    """The ``Values`` of a local.settings.json, the file ``func start`` and ``make playground`` use."""
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("Values")
    except OSError as exc:
        raise InvalidRequest(f"settings file {path} cannot be read: {exc.strerror}", field="--settings") from exc
    except (json.JSONDecodeError, AttributeError) as exc:
        raise InvalidRequest(
            f"{path}: not a local.settings.json (a JSON object with 'Values')", field="--settings"
        ) from exc
    if not isinstance(values, dict):
        raise InvalidRequest(f"{path}: 'Values' must be an object of setting names to values", field="--settings")
    return {str(key): str(value) for key, value in values.items()}


def _app_and_request(args: argparse.Namespace, config: Config) -> tuple[AppRef, dict[str, Any] | None]:
    """The one app the command acts on; a request file must name the same app, never another."""
    by_name = args.resource_group or args.name or args.slot
    if args.app and by_name:
        raise InvalidRequest("give either --app or -g/-n [--slot], not both", field="--app")
    if by_name:
        if not (args.resource_group and args.name):
            raise InvalidRequest("-g/--resource-group and -n/--name go together", field="-n")
        subscription = args.subscription or (config.subscriptions[0] if len(config.subscriptions) == 1 else "")
        if not subscription:
            raise InvalidRequest(
                "with -g/-n, name the subscription: --subscription, or exactly one in PASSWORDLESS_SUBSCRIPTIONS",
                field="--subscription",
            )
        by_group = AppRef(subscription, args.resource_group, args.name, args.slot)
        app: AppRef | None = parse_app_id(by_group.id, field="-g/-n")
    else:
        app = parse_app_id(args.app, field="--app") if args.app else None
    body = None
    if getattr(args, "request", None) is not None:
        body = _request_file(args.request)
        named = body.get("app")
        if isinstance(named, str) and named.strip():
            requested = parse_app_id(named, field=f"{args.request}: app")
            if app is not None and requested.key != app.key:
                raise InvalidRequest(
                    f"{args.request} is a request for {requested.id}, but the command names {app.id}: "
                    "refusing to act on another app",
                    field="--request",
                )
            app = requested
        elif app is not None:
            body["app"] = app.id
    if app is None:
        raise InvalidRequest("name the app: --app ID, or -g GROUP -n NAME [--slot SLOT]", field="--app")
    return app, body


def _request_file(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequest(f"request file {path} cannot be read: {exc.strerror}", field="--request") from exc
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})", field="--request"
        ) from exc
    if not isinstance(body, dict):
        raise InvalidRequest(f"{path}: a request is a JSON object with 'app' and 'connections'", field="--request")
    return body


def _reconcile(out: Any, runtime: Runtime, app: AppRef, body: dict[str, Any] | None, *, apply: bool) -> int:
    from provisioning.reconciler import Mode
    from provisioning.requests import request_from_body

    mode = Mode.APPLY if apply else Mode.PLAN
    correlation_id = str(uuid.uuid4())
    try:
        with out.working(f"{mode.value} {app.display_name}"):
            result = (
                runtime.reconciler.reconcile_request(request_from_body(body), mode)
                if body is not None
                else runtime.reconciler.reconcile_app(app, mode)
            )
    except ProvisioningError as exc:
        if apply:  # every reconcile is recorded, a failed one too
            runtime.outcomes.failed(app, exc, trigger=TRIGGER, correlation_id=correlation_id)
        raise
    if result is None:
        out.nothing_requested(app, runtime.config.tag_prefix)
        return Exit.OK
    if apply:
        runtime.outcomes.reconciled(result, trigger=TRIGGER, correlation_id=correlation_id)
    out.reconciled(result, correlation_id if apply else None)
    return Exit.OK


def _list(out: Any, runtime: Runtime) -> int:
    """Every app that asks for something: tagged (Resource Graph) or requested over HTTP (the index)."""
    from provisioning.requested_apps import request_of

    rows: list[dict[str, Any]] = []
    with out.working("discovering managed apps"):
        for found in runtime.requested.list_requested().every():
            app = found.app
            row: dict[str, Any] = {
                "app": app.id,
                "name": app.display_name,
                "subscription": app.subscription,
                "resource_group": app.resource_group,
            }
            try:
                request = request_of(found, prefix=runtime.reconciler.tag_prefix)
            except InvalidRequest as exc:
                row |= {"connections": [], "identity": None, "client": None, "invalid": str(exc)}
            else:
                row |= {
                    "connections": [f"{c.target}:{c.role}" for c in request.connections],
                    "identity": request.identity.kind.value,
                    "client": request.client.value if request.client is not None else None,
                }
            rows.append(row)
    out.apps(sorted(rows, key=lambda r: (r["subscription"], r["resource_group"].lower(), r["name"].lower())))
    return Exit.OK


def _audit(out: Any, runtime: Runtime, args: argparse.Namespace) -> int:
    from provisioning.audit import audit
    from provisioning.report import to_document, write_reports

    correlation_id = str(uuid.uuid4())
    recorded = runtime.outcomes.recorder(trigger=TRIGGER, correlation_id=correlation_id)  # every reconcile
    with out.working("discovering managed apps"):
        requested = runtime.requested.list_requested()
    with out.progress("auditing", total=len(requested.every())) as advance:
        report = audit(
            runtime.reconciler,
            requested.tagged,
            indexed=requested.indexed,
            remediate=args.remediate,
            progress=lambda _n, a: advance(a),
            remediations=recorded,
        )
    paths = write_reports(report, args.report_dir) if args.report_dir else {}
    out.audited(report, to_document(report), paths, correlation_id if args.remediate else None)
    settled = all(a.status in ("clean", "remediated") for a in report.apps)
    clean = settled and not report.orphans and not report.incomplete  # an incomplete audit proves nothing
    return Exit.FAILED if args.fail_on_drift and not clean else Exit.OK


def _catalog_check(out: Any, path: Path) -> int:
    from provisioning.catalog_check import check_catalog

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(f"catalog {path} cannot be read: {exc.strerror}", field="catalog") from exc
    catalog, problems = check_catalog(text, source=str(path))
    out.catalog_checked(str(path), catalog, problems)
    return Exit.OK if catalog is not None else Exit.INVALID


def _targets(out: Any, path: Path | None) -> int:
    from provisioning.catalog import load_catalog

    location = str(path) if path else os.environ.get("PASSWORDLESS_CATALOG", "").strip()
    if not location:
        raise InvalidRequest("name the catalog: --catalog FILE, or set PASSWORDLESS_CATALOG", field="--catalog")
    out.targets(load_catalog(location))
    return Exit.OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
