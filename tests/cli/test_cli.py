"""The ``passwordless`` console script as an operator runs it: a subprocess against the emulator, the
real local PostgreSQL and Azurite. Every command, every exit code, and each bug an operator met."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from provisioning.fixes import apply_command
from provisioning.principal_names import principal_name
from provisioning.resource_ids import parse_app_id
from tests.estates import APPS_GROUP, SUBSCRIPTION, TEAM_B_GROUP

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = shutil.which("passwordless", path=str(ROOT / ".venv" / "bin")) or "passwordless"


def cli(*arguments: str, env: dict[str, str], check: int | None = 0) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH: the script runs this checkout even when the venv's editable install points elsewhere.
    environment = {**os.environ, **env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    done = subprocess.run(
        [SCRIPT, *arguments], env=environment, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )
    if check is not None:
        assert done.returncode == check, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def new_app(emulator: Any, tag: str | None = "orders:writer", **extra: Any) -> str:
    tags = {"passwordless": tag} if tag else {}
    return str(emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"cli-{uuid.uuid4().hex[:8]}", tags=tags, **extra))


def test_console_script_is_installed_and_python_m_still_works(product_environment: dict[str, str]) -> None:
    assert Path(SCRIPT).is_file(), "make install must install the passwordless console script"
    helped = cli("--help", env=product_environment)
    for command in ("plan", "apply", "status", "list", "audit", "catalog", "targets"):
        assert command in helped.stdout
    assert "0  done" in helped.stdout and "4  transient" in helped.stdout  # the exit codes are documented
    module = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "provisioning", "--help"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    assert "passwordless" in module.stdout
    assert cli("frobnicate", env=product_environment, check=2).stderr  # usage errors exit 2


def test_plan_then_apply_by_group_and_name_prints_an_outcome_and_records_the_run(
    emulator: Any, product_environment: dict[str, str], pg_connect: Any
) -> None:
    app = parse_app_id(new_app(emulator))
    by_name = ("-g", app.resource_group, "-n", app.site)
    planned = cli("plan", *by_name, env=product_environment)
    assert "step(s)" in planned.stdout and "GRANT" in planned.stdout
    assert "missing privilege" not in planned.stdout  # a count of grants above fewer statements misled
    assert "INSERT, SELECT, UPDATE on" in planned.stdout or "DELETE, INSERT, SELECT, UPDATE on" in planned.stdout
    assert emulator.app_settings(app.id).get("AZURE_POSTGRESQL_CONNECTIONSTRING") is None  # plan changed nothing

    applied = cli("apply", *by_name, env=product_environment)
    assert applied.stdout != planned.stdout
    outcome = applied.stdout.strip().splitlines()[-1]
    assert outcome.startswith(f"✔ converged {app.site}: ") and "run recorded" in outcome
    with pg_connect(principal_name(app, _postgres())) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (item) VALUES ('from the cli') RETURNING id")

    again = cli("apply", "--app", app.id, "--json", env=product_environment)
    assert json.loads(again.stdout)["outcome"] == "no-op"

    status = json.loads(cli("status", *by_name, "--json", env=product_environment).stdout)
    assert status["in_sync"] is True and status["drift"] == []
    (connection,) = status["connections"]
    assert connection["principal"] == principal_name(app, _postgres())
    assert connection["binding"] == status["identity"]["system_principal_id"]
    assert any(g.startswith("INSERT on table") for g in connection["grants"])
    assert "AZURE_POSTGRESQL_CONNECTIONSTRING" in status["settings"]
    assert [r["trigger"] for r in status["runs"]] == ["cli", "cli"]  # CLI applies are recorded
    assert [r["outcome"] for r in status["runs"]] == ["no-op", "converged"]
    human = cli("status", "--app", app.id, env=product_environment).stdout
    assert "in sync" in human and "latest runs" in human

    listed = json.loads(cli("list", "--json", env=product_environment).stdout)["apps"]
    mine = next(row for row in listed if row["app"].lower() == app.key)
    assert mine["connections"] == ["orders:writer"] and mine["resource_group"] == APPS_GROUP


def _postgres() -> Any:
    from provisioning.models import Engine

    return Engine.POSTGRES


def test_a_request_file_for_another_app_is_refused_and_changes_nothing(
    emulator: Any, product_environment: dict[str, str], tmp_path: Path
) -> None:
    named, other = new_app(emulator), new_app(emulator, tag=None)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"app": other, "connections": [{"target": "orders", "role": "reader"}]}))
    before = (emulator.app_settings(named), emulator.app_settings(other))
    refused = cli("apply", "--app", named, "--request", str(request), env=product_environment, check=2)
    assert "refusing to act on another app" in refused.stderr
    assert (emulator.app_settings(named), emulator.app_settings(other)) == before

    bad = tmp_path / "bad.json"
    bad.write_text('{"app": "x",\n  "connections": [}')
    assert f"{bad}:2: not valid JSON" in cli("plan", "--request", str(bad), env=product_environment, check=2).stderr


def test_exit_codes_name_the_failure(emulator: Any, product_environment: dict[str, str]) -> None:
    invalid = cli("apply", "--app", new_app(emulator, tag="orders"), env=product_environment, check=2)
    assert "error:" in invalid.stderr and "Traceback" not in invalid.stderr
    denied = new_app(emulator, tag="orders:owner")
    refusal = json.loads(cli("apply", "--app", denied, "--json", env=product_environment, check=3).stdout)
    assert refusal["error"]["kind"] == "PolicyViolation" and refusal["error"]["exit_code"] == 3
    status = json.loads(cli("status", "--app", denied, "--json", env=product_environment).stdout)
    assert status["runs"][0]["outcome"] == "failed" and status["runs"][0]["trigger"] == "cli"
    group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}"
    missing = f"{group}/providers/Microsoft.Web/sites/nope-{uuid.uuid4().hex[:6]}"
    cli("plan", "--app", missing, env=product_environment, check=2)
    cli("plan", "--app", "not-an-id", env=product_environment, check=2)
    cli("plan", "-n", "only-a-name", env=product_environment, check=2)
    unreachable = product_environment | {"PASSWORDLESS_ARM_ENDPOINT": "https://127.0.0.1:9"}
    transient = cli("plan", "--app", denied, env=unreachable, check=4)
    assert "could not be reached" in transient.stderr


def test_a_reconcile_that_fails_exits_1_and_is_recorded_as_failed(
    emulator: Any, product_environment: dict[str, str], tmp_path: Path
) -> None:
    """Exit 1 is a reconcile that did not converge: here ARM refuses a role the function's delegation
    condition does not list (403). Not 2 (the input is valid), 3 (the catalog allows it) or 4."""
    catalog = json.loads(Path(product_environment["PASSWORDLESS_CATALOG"]).read_text())
    invoices = next(t for t in catalog["targets"] if t["name"] == "invoices")
    catalog["targets"].append(
        dict(invoices, name="greedy", roles={"owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"})  # Owner
    )
    edited = tmp_path / "catalog.json"
    edited.write_text(json.dumps(catalog))
    env = product_environment | {"PASSWORDLESS_CATALOG": str(edited)}
    app = new_app(emulator, tag="greedy:owner")
    failed = cli("apply", "--app", app, env=env, check=1)
    assert "lacks the permission" in failed.stderr and "Traceback" not in failed.stderr
    (run,) = json.loads(cli("status", "--app", app, "--json", env=env).stdout)["runs"]
    assert (run["trigger"], run["outcome"]) == ("cli", "failed") and "AuthorizationFailed" in run["error"]
    cli("plan", "--app", app, env=env)  # planning it is fine: nothing was refused yet


def test_a_yaml_error_in_the_catalog_names_the_file_for_every_command(
    product_environment: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "catalog.yaml"
    broken.write_text("targets:\n  - name: [orders\n")
    env = product_environment | {"PASSWORDLESS_CATALOG": str(broken)}
    app = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}/providers/Microsoft.Web/sites/any"
    for command in (("targets",), ("plan", "--app", app)):
        failed = cli(*command, env=env, check=2).stderr
        assert f'in "{broken}", line 3' in failed and "<unicode string>" not in failed, failed
        assert "Traceback" not in failed


def test_function_object_id_missing_or_not_a_guid_is_named(product_environment: dict[str, str]) -> None:
    app = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}/providers/Microsoft.Web/sites/any"
    for value, problem in (("", "is empty"), ("not-a-guid", "'not-a-guid' is not a GUID")):
        env = product_environment | {"PASSWORDLESS_FUNCTION_OBJECT_ID": value}
        failed = cli("plan", "--app", app, env=env, check=2)
        assert f"PASSWORDLESS_FUNCTION_OBJECT_ID {problem}" in failed.stderr
        assert "administrator" not in failed.stderr


def test_audit_exits_zero_with_drift_unless_told_to_fail(emulator: Any, product_environment: dict[str, str]) -> None:
    new_app(emulator, tag="orders:reader")  # requested, never provisioned
    report_dir = Path(product_environment["PASSWORDLESS_CATALOG"]).parent / "reports"
    audited = cli("audit", "--json", "--report-dir", str(report_dir), env=product_environment)
    document = json.loads(audited.stdout)
    assert document["summary"]["apps"] >= 1 and "app(s) audited" in audited.stderr
    assert (report_dir / "audit.html").is_file()
    cli("audit", "--fail-on-drift", env=product_environment, check=1)


def test_audit_states_are_separate_and_a_skipped_scan_is_marked_incomplete(
    emulator: Any, product_environment: dict[str, str], tmp_path: Path
) -> None:
    catalog = json.loads(Path(product_environment["PASSWORDLESS_CATALOG"]).read_text())
    ghost = dict(catalog["targets"][0], name="ghost")
    ghost["server"] = ghost["server"].rsplit("/", 1)[0] + "/pg-does-not-exist"
    catalog["targets"].append(ghost)
    with_ghost = tmp_path / "catalog.json"
    with_ghost.write_text(json.dumps(catalog))
    env = product_environment | {"PASSWORDLESS_CATALOG": str(with_ghost)}
    apps = {
        "pending": new_app(emulator, tag="orders:reader"),
        "invalid": new_app(emulator, tag="orders"),
        "denied": new_app(emulator, tag="orders:owner"),
        "error": new_app(emulator, tag="ghost:reader"),
        "drifted": new_app(emulator, tag="orders:reader"),
        "clean": new_app(emulator, tag="orders:reader"),
    }
    # A namesake in another team's resource group: the principal name is the first one's, bound to
    # its live identity, so it is never rebound (the platform team resolves it).
    name = parse_app_id(apps["clean"]).site
    apps["conflict"] = str(
        emulator.create_site(SUBSCRIPTION, TEAM_B_GROUP, name, tags={"passwordless": "orders:reader"})
    )
    for app in (apps["drifted"], apps["clean"]):
        cli("apply", "--app", app, env=env)
    emulator.set_app_setting(apps["drifted"], "AZURE_POSTGRESQL_CONNECTIONSTRING", None)
    refused = json.loads(cli("apply", "--app", apps["conflict"], "--json", env=env, check=3).stdout)
    assert refused["error"]["kind"] == "PrincipalConflict"

    report_dir = tmp_path / "reports"
    document = json.loads(cli("audit", "--json", "--report-dir", str(report_dir), env=env).stdout)
    by_app = {entry["app"].lower(): entry for entry in document["apps"]}
    for state, app in apps.items():
        assert by_app[app.lower()]["status"] == state, by_app[app.lower()]
        if state == "clean":
            assert by_app[app.lower()]["fix"] is None and by_app[app.lower()]["severity"] == "none"
            continue
        assert by_app[app.lower()]["fix"].startswith("passwordless apply --subscription")
    assert [d["kind"] for d in by_app[apps["conflict"].lower()]["drift"]] == ["principal-conflict"]
    ghost_error = by_app[apps["error"].lower()]["error"]
    assert "disappeared" not in ghost_error and "pg-does-not-exist" in ghost_error  # names what is missing
    assert [d["kind"] for d in by_app[apps["drifted"].lower()]["drift"]] == ["setting-missing"]
    assert any(reason.startswith("orphan scan of target ghost") for reason in document["incomplete"])
    assert "incomplete: orphan scan of target ghost" in cli("audit", env=env).stderr
    page = (report_dir / "audit.html").read_text()  # the report marks it too, never a clean look
    assert '<div class="incomplete"><b>Incomplete:</b> orphan scan of target ghost' in page
    assert "> **Incomplete:** orphan scan of target ghost" in (report_dir / "audit.md").read_text()
    for state in ("pending", "drifted", "invalid", "denied", "conflict", "error", "clean"):
        assert f'<div class="card {state}"><b>' in page


def test_audit_remediate_records_each_reconcile_as_a_cli_run(
    emulator: Any, product_environment: dict[str, str]
) -> None:
    """Every reconcile is recorded: the ones `audit --remediate` runs too, under the audit's correlation
    id. A tag prefix of its own keeps the audit to this test's apps."""
    prefix = f"pwrem{uuid.uuid4().hex[:6]}"
    env = product_environment | {"PASSWORDLESS_TAG_PREFIX": prefix}
    group = (SUBSCRIPTION, APPS_GROUP)
    pending = str(emulator.create_site(*group, f"rem-{uuid.uuid4().hex[:8]}", tags={prefix: "orders:reader"}))
    drifted = str(emulator.create_site(*group, f"rem-{uuid.uuid4().hex[:8]}", tags={prefix: "orders:reader"}))
    cli("apply", "--app", drifted, env=env)
    emulator.set_app_setting(drifted, "AZURE_POSTGRESQL_CONNECTIONSTRING", None)

    audited = cli("audit", "--remediate", "--json", env=env)
    statuses = {entry["app"].lower(): entry["status"] for entry in json.loads(audited.stdout)["apps"]}
    assert statuses == {pending.lower(): "remediated", drifted.lower(): "remediated"}
    (said,) = [line for line in audited.stderr.splitlines() if line.startswith("remediations recorded as runs")]
    correlation_id = said.rsplit(" ", 1)[-1].rstrip(")")

    for app, earlier in ((pending, []), (drifted, ["converged"])):
        status = json.loads(cli("status", "--app", app, "--json", env=env).stdout)
        runs = status["runs"]
        assert [r["outcome"] for r in runs] == ["converged", *earlier], runs
        assert (runs[0]["trigger"], runs[0]["correlation_id"]) == ("cli", correlation_id)
        assert status["in_sync"] is True

    quiet = cli("audit", "--json", env=env)  # without --remediate: nothing reconciled, nothing recorded
    assert "remediations recorded" not in quiet.stderr
    assert len(json.loads(cli("status", "--app", pending, "--json", env=env).stdout)["runs"]) == 1


PLACEHOLDER = re.compile(r"&lt;[^&]{1,80}&gt;")  # a `<…>` blank in a fix, left for a person to fill in


def test_audit_report_dir_html_has_a_fix_per_app_columns_severity_filter_orphans_and_a_trend(
    emulator: Any, product_environment: dict[str, str], tmp_path: Path
) -> None:
    """The report as `passwordless audit --report-dir` writes it, audited three times: the exact fix per
    app (no `<…>` blank), subscription and resource group as columns, severity, sorting and filtering
    that work offline, each connection's settings as one finding, orphans with their server and the
    statement that removes them, and the trend over the audits."""
    clean = new_app(emulator, tag="orders:reader")
    pending = new_app(emulator, tag="orders:reader")
    drifted = new_app(emulator, tag="orders:writer; ledger:reader", linux_fx_version="NODE|20-lts")  # 5 settings each
    gone = new_app(emulator, tag="orders:reader")
    for app in (clean, drifted, gone):
        cli("apply", "--app", app, env=product_environment)
    for key in ("AZURE_POSTGRESQL_HOST", "AZURE_POSTGRESQL_PORT", "AZURE_POSTGRESQL_LEDGER_HOST"):
        emulator.set_app_setting(drifted, key, None)
    emulator.delete_site(gone)  # on_remove: report keeps its principal: an orphan

    reports = tmp_path / "reports"
    cli("audit", "--report-dir", str(reports), env=product_environment)
    cli("apply", "--app", pending, env=product_environment)  # between audits: the trend moves
    cli("audit", "--report-dir", str(reports), env=product_environment)
    audited = cli("audit", "--json", "--report-dir", str(reports), env=product_environment)
    page = (reports / "audit.html").read_text()
    by_app = {entry["app"].lower(): entry for entry in json.loads(audited.stdout)["apps"]}

    fixes = re.findall(r'<code class="fix">([^<]*)</code>', page)  # every app's and orphan's, as printed
    assert fixes and not [f for f in fixes if PLACEHOLDER.search(f)]
    for header in ("app", "subscription", "resource group", "status", "severity"):
        assert re.search(rf'<th data-sort="\d">{header}</th>', page), header
    row = page[page.index(f'<td title="{parse_app_id(drifted).id}">') :].split("</tr>", 1)[0]
    assert f"<td>{SUBSCRIPTION}</td><td>{APPS_GROUP}</td>" in row and ">drifted</td>" in row
    assert ">critical</td>" in row  # a missing setting: the app cannot connect
    fix = apply_command(parse_app_id(drifted))
    assert by_app[drifted.lower()]["fix"] == fix and f'<code class="fix">{fix}</code>' in row
    missing = [d["detail"] for d in by_app[drifted.lower()]["drift"] if d["kind"] == "setting-missing"]
    assert sorted(missing) == [  # one finding per connection, naming its settings
        "app setting(s) of connection AZURE_POSTGRESQL: AZURE_POSTGRESQL_HOST, AZURE_POSTGRESQL_PORT",
        "app setting(s) of connection AZURE_POSTGRESQL_LEDGER: AZURE_POSTGRESQL_LEDGER_HOST",
    ]
    assert all(detail in row for detail in missing)
    assert by_app[clean.lower()]["fix"] is None and by_app[pending.lower()]["status"] == "clean"

    principal = principal_name(parse_app_id(gone), _postgres())
    orphan = next(r for r in page.split('<tr class="orphan">')[1:] if f"principal '{principal}'" in r)
    server = json.loads(Path(product_environment["PASSWORDLESS_CATALOG"]).read_text())["targets"][0]["server"]
    assert f"on server {server.rsplit('/', 1)[-1]}" in orphan
    assert re.search(rf'<code class="fix">[^<]*DROP ROLE "?{re.escape(principal)}"?', orphan), orphan

    assert '<svg id="trend"' in page and "Trend over the last 3 audits" in page
    assert '<input id="filter"' in page and '<select id="state">' in page and '<select id="severity">' in page
    assert "<script>" in page and not re.search(r'(src|href)="(https?:)?//', page)  # inline: works offline
    assert len(json.loads((reports / "history.json").read_text())) == 3


CATALOG_WITH_ERRORS = """\
profiles:
  auditor: [SELECT, DROP]
targets:
  - name: orders
    engine: postgres
    server: /subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg
    database: orders
    roles: [writer, owner]
    allowed_sources: [/subscriptions/s]
  - name: billing
    engine: oracle
  - name: orders
    engine: postgres
    server: /subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg
    database: orders
    roles: [writer]
    allowed_sources: [/subscriptions/s]
colour: blue
"""


def test_catalog_check_reports_every_error_with_file_and_line(tmp_path: Path) -> None:
    env = {"PASSWORDLESS_CATALOG": "", "PASSWORDLESS_FUNCTION_OBJECT_ID": ""}  # needs no settings at all
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG_WITH_ERRORS)
    checked = cli("catalog", "check", str(catalog), env=env, check=2)
    lines = checked.stderr.splitlines()
    assert f"{catalog}:2: catalog.profiles.auditor: 'DROP'" in lines[0]
    assert any(line.startswith(f"{catalog}:8: catalog.targets[orders].roles: 'owner'") for line in lines)
    assert any(line.startswith(f"{catalog}:11: catalog.targets[billing].engine: 'oracle'") for line in lines)
    for missing in ("server", "database", "roles", "allowed_sources"):  # the same target's other errors
        assert any(line.startswith(f"{catalog}:10: catalog.targets[billing].{missing}: ") for line in lines), missing
    assert any(line.startswith(f"{catalog}:12: catalog.targets[2].name: 'orders' is defined twice") for line in lines)
    assert any(line.startswith(f"{catalog}:18: catalog.colour: unknown") for line in lines)
    assert lines[-1] == f"{catalog}: 9 error(s)" and "Traceback" not in checked.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text("targets:\n  - name: [orders\n")
    yaml_error = cli("catalog", "check", str(broken), env=env, check=2).stderr
    assert yaml_error.startswith(f"{broken}:3: not valid YAML") and "<unicode string>" not in yaml_error

    good = ROOT / "emulator" / "estates" / "demo.catalog.yaml"
    assert json.loads(cli("catalog", "check", str(good), "--json", env=env).stdout)["targets"] == ["orders"]
    offered = json.loads(cli("targets", "--catalog", str(good), "--json", env=env).stdout)
    assert offered["targets"][0]["roles"] == ["auditor", "ddl", "reader", "writer"]
    assert offered["roles"]["auditor"] == ["SELECT"] and {"python", "none"} <= set(offered["client_types"])
    shown = cli("targets", "--catalog", str(good), env=env).stdout
    assert "role writer: DELETE, INSERT, SELECT, UPDATE" in shown
    assert "ruby, none (" in shown and "none: no framework, only the generic settings" in shown


CATALOG_WITH_SEVERAL_ERRORS_PER_TARGET = """\
profiles:
  auditor: [SELECT, DROP, TRUNCATE]
targets:
  - name: orders
    engine: oracle
    server: /subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg
    database: orders
    roles: [writer, owner]
    allowed_sources: [/subscriptions/]
    colour: blue
  - name: Billing
    engine: postgres
    server: not-an-id
    database: billing
    roles: [reader]
    allowed_sources: [/subscriptions/s]
    tls: maybe
  - name: files
    kind: storage-blob
    resource: /subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv
    roles: [owner]
    allowed_sources: [/subscriptions/s]
    on_remove: never
  - name: orders-eu
    engine: mysql
    server: /subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforMySQL/flexibleServers/my
    database: eu
    roles: [reader]
    allowed_sources: [/subscriptions/s]
  - name: orders_eu
    engine: mysql
    server: /subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforMySQL/flexibleServers/my
    database: eu2
    roles: [reader]
    allowed_sources: [/subscriptions/s]
identities:
  - id: /subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/x
    allowed_sources: []
"""


def test_catalog_check_lists_every_error_of_each_target_not_only_the_first(tmp_path: Path) -> None:
    """A target with a bad engine, a bad role, a bad scope and an unknown field names all four; so do
    the other targets (an RBAC one too), a profile with two bad privileges and an identity."""
    env = {"PASSWORDLESS_CATALOG": "", "PASSWORDLESS_FUNCTION_OBJECT_ID": ""}
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG_WITH_SEVERAL_ERRORS_PER_TARGET)
    lines = cli("catalog", "check", str(catalog), env=env, check=2).stderr.splitlines()
    expected = [
        "2: catalog.profiles.auditor: 'DROP' is not one of",
        "2: catalog.profiles.auditor: 'TRUNCATE' is not one of",
        "4: catalog.targets[0]: unknown field(s) ['colour']",
        "5: catalog.targets[orders].engine: 'oracle' is not one of",
        "8: catalog.targets[orders].roles: 'owner' is not a known profile",
        "9: catalog.targets[orders].allowed_sources: '/subscriptions/' is not an ARM scope",
        "11: catalog.targets[1].name: 'Billing' must be lower-case",
        "13: catalog.targets[1].server 'not-an-id' is not an ARM resource id",
        "17: catalog.targets[1].tls: 'maybe' is not one of",
        "20: catalog.targets[files].resource: a storage-blob target is a",
        "21: catalog.targets[files].roles: ['owner'] have no default role",
        "23: catalog.targets[files].on_remove: 'never' is not report or revoke",
        "30: catalog.targets[4].name: 'orders_eu' and 'orders-eu' would share app-setting names",
        "37: catalog.identities[0].id: a microsoft.managedidentity/userassignedidentities id is required",
        "38: catalog.identities[0].allowed_sources: list the subscriptions",
    ]
    assert len(lines) == len(expected) + 1, "\n".join(lines)
    for line, start in zip(lines, expected, strict=False):
        assert line.startswith(f"{catalog}:{start}"), (line, start)
    assert lines[-1] == f"{catalog}: {len(expected)} error(s)"

    document = json.loads(cli("catalog", "check", str(catalog), "--json", env=env, check=2).stdout)
    assert document["valid"] is False and len(document["errors"]) == len(expected)
    assert [e["line"] for e in document["errors"]] == [int(start.split(":")[0]) for start in expected]


def test_predeploy_hook_shows_every_catalog_error_and_no_traceback(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG_WITH_ERRORS)
    hook = subprocess.run(
        ["sh", str(ROOT / "infra" / "hooks" / "predeploy.sh")],
        env={**os.environ, "PASSWORDLESS_CATALOG_PATH": str(catalog), "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert hook.returncode == 2 and "Traceback" not in hook.stderr
    assert "9 error(s)" in hook.stderr and "catalog.targets[billing].database" in hook.stderr
