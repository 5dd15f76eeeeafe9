"""``make demo``: the whole story against the emulator and the real local PostgreSQL.

A new web app is created with a ``passwordless`` tag; the ARM event Azure would send is delivered to
the Event Grid function as the Functions host would; the app is provisioned; its own connection
setting is used to log in as the new principal; drift is injected by hand and found by the audit.
Exits non-zero if any of that does not happen.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import yaml
from psycopg2 import errors, sql

from emulator.azurite import running_azurite
from emulator.instance import Emulator
from emulator.postgres_local import owner_connection, prepare_postgres, reset_postgres

ROOT = Path(__file__).resolve().parents[1]
ESTATE = ROOT / "emulator" / "estates" / "demo.yaml"
CATALOG = ROOT / "emulator" / "estates" / "demo.catalog.yaml"
STATE = ROOT / ".state" / "demo"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
APP_NAME = "checkout-web"


class DemoFailed(RuntimeError):
    """A step of the demo did not show what it should."""


def say(title: str, *lines: str) -> None:
    print(f"\n== {title}")
    for line in lines:
        print(f"   {line}")


def check(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailed(message)


@contextmanager
def local_world(estate: dict[str, Any]) -> Iterator[Emulator]:
    """Fresh local databases and a running emulator; both cleaned up afterwards."""
    reset_postgres(estate)
    prepare_postgres(estate)
    server = estate["subscriptions"][0]["resource_groups"][1]["postgres_servers"][0]
    with owner_connection(server, "orders") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, placed timestamptz DEFAULT now())")
        cur.execute("INSERT INTO orders (item) VALUES ('espresso'), ('croissant')")
    shutil.rmtree(STATE, ignore_errors=True)
    with running_azurite() as storage:
        emulator = Emulator.start(estate, state_dir=STATE / "emulator")
        os.environ["AzureWebJobsStorage"] = storage  # noqa: SIM112 - the Functions host's own name
        try:
            yield emulator
        finally:
            emulator.stop()


def main() -> int:
    from provisioning.catalog import load_catalog
    from provisioning.rbac_roles import RBAC_ADMINISTRATOR, delegation_condition

    estate = yaml.safe_load(ESTATE.read_text(encoding="utf-8"))
    # What infra/ deploys: the function may assign the catalog's data-plane roles, and only those.
    estate["role_assignments"] = [
        {
            "scope": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data",
            "role": RBAC_ADMINISTRATOR,
            "principal": "function",
            "condition": delegation_condition(load_catalog(str(CATALOG)).role_definition_ids()),
        }
    ]
    with local_world(estate) as emulator:
        os.environ.update(emulator.environment())
        os.environ.update(
            {
                "PASSWORDLESS_CATALOG": str(CATALOG),
                "PASSWORDLESS_FUNCTION_OBJECT_ID": estate["function_identity"]["object_id"],
                "PASSWORDLESS_SUBSCRIPTIONS": SUBSCRIPTION,
                "PASSWORDLESS_APPLY_ROLE": "",  # the demo has no App Service Authentication in front
            }
        )
        say(
            "Local Azure emulator",
            f"ARM endpoint {emulator.arm_endpoint} (HTTPS, CA {emulator.ca_bundle})",
            "PostgreSQL flexible server pg-orders -> the local PostgreSQL, database 'orders'",
        )
        try:
            run(emulator)
        except DemoFailed as exc:
            print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
            return 1
    print(
        "\nDemo complete: provisioned from an event, proven by login, drift found by the audit; "
        "a blob container and a Key Vault secret connected through Azure RBAC."
    )
    return 0


def run(emulator: Emulator) -> None:
    import azure.functions as func

    import function_app
    from provisioning.audit import audit
    from provisioning.models import Engine
    from provisioning.principal_names import principal_name
    from provisioning.reconciler import Mode
    from provisioning.report import write_reports
    from provisioning.resource_ids import parse_app_id
    from provisioning.runtime import shared_runtime

    site_id = emulator.create_site(
        SUBSCRIPTION,
        "rg-apps",
        APP_NAME,
        tags={"passwordless": "orders:writer"},
        app_settings={"WEBSITES_PORT": "8000"},
    )
    (event,) = [e for e in emulator.events if e["subject"].lower() == site_id.lower()]
    say(
        "1. A platform user creates a tagged web app; Azure emits",
        f"{event['eventType']}  {event['subject']}",
        "tag passwordless = orders:writer",
    )

    app = parse_app_id(site_id)
    runtime = shared_runtime()
    planned = runtime.reconciler.reconcile_app(app, Mode.PLAN)
    check(planned is not None and len(planned.plan.steps) == 4, "the dry run should plan four steps")
    assert planned is not None
    say("2. The plan (dry run: the exact SQL; no token is ever shown)", *planned.plan.describe().splitlines())

    handler = {f.get_function_name(): f for f in function_app.app.get_functions()}["eventgrid_reconcile_site"]
    delivered = func.EventGridEvent(
        id=event["id"],
        data=event["data"],
        topic=event["topic"],
        subject=event["subject"],
        event_type=event["eventType"],
        event_time=datetime.now(UTC),
        data_version=event["dataVersion"],
    )
    emulator.clear_requests()
    handler.get_user_function()(delivered)
    calls = [f"{r.method} {r.path.split('?')[0]}" for r in emulator.requests if r.kind != "token"]
    after = runtime.reconciler.reconcile_app(app, Mode.PLAN)
    check(after is not None and after.plan.empty, "after the event the plan must be empty")
    settings = emulator.app_settings(site_id)
    say(
        "3. Event delivered to eventgrid_reconcile_site: converged",
        f"{len(calls)} ARM requests:",
        *[f"  {c}" for c in calls],
        f"app settings now: {sorted(settings)}",
        f"AZURE_POSTGRESQL_CONNECTIONSTRING = {settings.get('AZURE_POSTGRESQL_CONNECTIONSTRING')}",
    )
    check(settings.get("WEBSITES_PORT") == "8000", "an unrelated app setting was lost")

    principal = principal_name(app, Engine.POSTGRES)
    with closing(psycopg2.connect(settings["AZURE_POSTGRESQL_CONNECTIONSTRING"])) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user, count(*) FROM orders GROUP BY 1")
        user, rows = cur.fetchone()
        cur.execute("INSERT INTO orders (item) VALUES ('pain au chocolat') RETURNING id")
        inserted = cur.fetchone()[0]
        try:
            cur.execute("CREATE TABLE not_allowed (id int)")
            refused = "NOT refused"
        except errors.InsufficientPrivilege as exc:
            refused = f"refused ({exc.pgcode}: {str(exc).splitlines()[0]})"
            conn.rollback()
    check(user == principal and refused.startswith("refused"), "the principal's rights are not as planned")
    say(
        "4. Logged in with the app's own connection setting",
        f"current_user = {user}; SELECT saw {rows} rows; INSERT returned id {inserted}",
        f"CREATE TABLE {refused}",
    )

    server = {"fqdn": "127.0.0.1", "port": 5432}
    with owner_connection(server, "orders") as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("REVOKE INSERT ON orders FROM {}").format(sql.Identifier(principal)))
    emulator.set_app_setting(site_id, "AZURE_POSTGRESQL_CONNECTIONSTRING", None)
    say(
        "5. Drift injected by hand",
        f'REVOKE INSERT ON orders FROM "{principal}"',
        "app setting AZURE_POSTGRESQL_CONNECTIONSTRING deleted",
    )

    report = audit(runtime.reconciler, runtime.discovery.list_tagged_apps())
    paths = write_reports(report, STATE / "reports")
    mine = next(a for a in report.apps if a.app.key == app.key)
    kinds = sorted(d.kind.value for d in mine.drift)
    say(
        "6. Drift audit over every tagged app (Resource Graph discovery, read-only)",
        *[
            f"{a.status:<9} {a.app.display_name}: {', '.join(sorted({d.kind.value for d in a.drift})) or '-'}"
            for a in report.apps
        ],
        f"HTML report: {paths['html']}",
        f"JSON report: {paths['json']}",
        f"Markdown:    {paths['markdown']}",
    )
    check(kinds == ["privilege-missing", "setting-missing"], f"the audit found {kinds} on {APP_NAME}")
    rbac_story(emulator, site_id)


def rbac_story(emulator: Emulator, site_id: str) -> None:
    """Storage and Key Vault through Azure RBAC: one role assignment each, at the narrowest scope."""
    import requests

    from provisioning.resource_ids import parse_app_id
    from provisioning.runtime import shared_runtime

    tag = "orders:writer; receipts:writer; payment-key:reader"
    emulator.set_tags(site_id, {"passwordless": tag})
    result = shared_runtime().reconciler.reconcile_app(parse_app_id(site_id))
    check(result is not None and result.applied, "the RBAC connections were not applied")
    assert result is not None
    principal = emulator.identity_of(site_id)[0]
    assigned = [a["properties"] for a in emulator.role_assignments() if a["properties"]["principalId"] == principal]
    settings = emulator.app_settings(site_id)
    say(
        f"7. The tag grows: passwordless = {tag}",
        *[f"  {step.description}" for step in result.plan.steps],
        *[f"role assignment at {a['scope'].split('/providers/', 1)[1]}" for a in assigned],
        f"AZURE_STORAGEBLOB_RESOURCEENDPOINT = {settings.get('AZURE_STORAGEBLOB_RESOURCEENDPOINT')}",
        f"PAYMENT_API_KEY = {settings.get('PAYMENT_API_KEY')}",
    )
    check(len(assigned) == 2, f"expected one assignment per RBAC target, found {len(assigned)}")

    environment = emulator.app_identity_environment(site_id)

    def token(audience: str) -> str:
        answer = requests.get(
            environment["IDENTITY_ENDPOINT"],
            params={"api-version": "2019-08-01", "resource": audience},
            headers={"X-IDENTITY-HEADER": environment["IDENTITY_HEADER"]},
            verify=emulator.ca_bundle,
            timeout=10,
        )
        return str(answer.json()["access_token"])

    blob = settings["AZURE_STORAGEBLOB_RESOURCEENDPOINT"] + "receipts/order-1.json"
    storage = {"Authorization": f"Bearer {token('https://storage.azure.com/')}"}
    written = requests.put(blob, data=b'{"total": 4.5}', headers=storage, verify=emulator.ca_bundle, timeout=10)
    read = requests.get(blob, headers=storage, verify=emulator.ca_bundle, timeout=10)
    vault = {"Authorization": f"Bearer {token('https://vault.azure.net')}"}
    reference_uri = settings["PAYMENT_API_KEY"].split("SecretUri=", 1)[1].rstrip(")")
    other = reference_uri.replace("payment-api-key", "admin-api-key")
    refused = requests.get(other, headers=vault, verify=emulator.ca_bundle, timeout=10)
    resolved = emulator.resolved_app_settings(site_id).get("PAYMENT_API_KEY")
    say(
        "8. The app, with its own token",
        f"PUT {blob} -> {written.status_code}; GET -> {read.status_code} {read.content.decode()}",
        f"Key Vault reference PAYMENT_API_KEY resolved for App Service: {resolved == 'demo-not-a-real-key'}",
        f"GET the vault's admin-api-key (not in the catalog) -> {refused.status_code} "
        f"{refused.json()['error']['innererror']['code']}",
    )
    check(written.status_code == 201 and read.status_code == 200, "the app could not use its blob container")
    check(resolved == "demo-not-a-real-key", "the Key Vault reference did not resolve")
    check(refused.status_code == 403, "a secret outside the catalog was readable")


if __name__ == "__main__":
    sys.exit(main())
