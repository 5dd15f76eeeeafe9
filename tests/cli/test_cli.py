"""The ``passwordless`` console script as an operator runs it: a subprocess against the emulator, the
real local PostgreSQL and Azurite. Every command, every exit code, and each bug an operator met."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from provisioning.principal_names import principal_name
from provisioning.resource_ids import parse_app_id
from tests.estates import APPS_GROUP, SUBSCRIPTION

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
    }
    cli("apply", "--app", apps["drifted"], env=env)
    emulator.set_app_setting(apps["drifted"], "AZURE_POSTGRESQL_CONNECTIONSTRING", None)

    document = json.loads(cli("audit", "--json", env=env).stdout)
    by_app = {entry["app"].lower(): entry for entry in document["apps"]}
    for state, app in apps.items():
        assert by_app[app.lower()]["status"] == state, by_app[app.lower()]
        assert by_app[app.lower()]["fix"].startswith("passwordless apply --subscription")
    ghost_error = by_app[apps["error"].lower()]["error"]
    assert "disappeared" not in ghost_error and "pg-does-not-exist" in ghost_error  # names what is missing
    assert [d["kind"] for d in by_app[apps["drifted"].lower()]["drift"]] == ["setting-missing"]
    assert any(reason.startswith("orphan scan of target ghost") for reason in document["incomplete"])
    assert "incomplete: orphan scan of target ghost" in cli("audit", env=env).stderr


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
    assert any(line.startswith(f"{catalog}:12: catalog.targets[2].name: 'orders' is defined twice") for line in lines)
    assert any(line.startswith(f"{catalog}:18: catalog.colour: unknown") for line in lines)
    assert lines[-1] == f"{catalog}: 5 error(s)" and "Traceback" not in checked.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text("targets:\n  - name: [orders\n")
    yaml_error = cli("catalog", "check", str(broken), env=env, check=2).stderr
    assert yaml_error.startswith(f"{broken}:3: not valid YAML") and "<unicode string>" not in yaml_error

    good = ROOT / "emulator" / "estates" / "demo.catalog.yaml"
    assert json.loads(cli("catalog", "check", str(good), "--json", env=env).stdout)["targets"] == ["orders"]
    offered = json.loads(cli("targets", "--catalog", str(good), "--json", env=env).stdout)
    assert offered["targets"][0]["roles"] == ["auditor", "ddl", "reader", "writer"]
    assert offered["roles"]["auditor"] == ["SELECT"] and "python" in offered["client_types"]
    assert "role writer: DELETE, INSERT, SELECT, UPDATE" in cli("targets", "--catalog", str(good), env=env).stdout


def test_predeploy_hook_shows_every_catalog_error_and_no_traceback(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG_WITH_ERRORS)
    hook = subprocess.run(
        ["sh", str(ROOT / "infra" / "hooks" / "predeploy.sh")],
        env={**os.environ, "PASSWORDLESS_CATALOG_PATH": str(catalog), "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert hook.returncode == 2 and "Traceback" not in hook.stderr
    assert "5 error(s)" in hook.stderr
