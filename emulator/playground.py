"""``make playground``: the product against a small local estate, to try by hand.

``python -m emulator.playground [up]`` starts Azurite (or reuses it), prepares the local PostgreSQL
and MariaDB, opens the MySQL endpoint (the protocol shim), starts the emulator on a fixed port and a
local host for the function app, writes a ``local.settings.json`` that works as it is, prints what
to try, and serves until Ctrl-C or SIGTERM, then stops all of it (Azurite only if it started it).

``python -m emulator.playground event --tag APP VALUE`` is the event feeder: it tags the app in
the emulator (which records the ARM event Azure would emit) and delivers that event to the
function's local Event Grid webhook, as Event Grid would (the local host, or ``func start``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import ssl
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
ESTATE = ROOT / "emulator" / "estates" / "playground.yaml"
CATALOG = ROOT / "emulator" / "estates" / "playground.catalog.yaml"
STATE = ROOT / ".state" / "playground"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
APPS = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-apps/providers/Microsoft.Web/sites"
EVENTGRID_FUNCTION = "eventgrid_reconcile_site"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.playground", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    up = commands.add_parser("up", help="start the playground (the default)")
    for target in (parser, up):
        target.add_argument("--arm-port", type=int, default=int(os.environ.get("PLAYGROUND_ARM_PORT", "8443")))
        target.add_argument("--host-port", type=int, default=int(os.environ.get("PLAYGROUND_HOST_PORT", "7071")))
        target.add_argument("--mysql-port", type=int, default=int(os.environ.get("PLAYGROUND_MYSQL_PORT", "13306")))
        target.add_argument("--settings", type=Path, default=ROOT / "local.settings.json")
    event = commands.add_parser("event", help="emit the ARM event of a change and deliver it to the function")
    event.add_argument("--tag", nargs=2, metavar=("APP", "VALUE"), required=True, help="set tag passwordless")
    event.add_argument("--host", help="the function's base URL (default: the playground's local host)")
    args = parser.parse_args(argv)
    if args.command == "event":
        return feed_event(args.tag[0], args.tag[1], host=args.host)
    return serve(args.arm_port, args.host_port, args.mysql_port, args.settings)


def serve(arm_port: int, host_port: int, mysql_port: int, settings_path: Path) -> int:
    """Start everything, serve until SIGTERM or SIGINT, then stop what was started, in reverse order:
    the local host, the emulator, the MySQL endpoint, and Azurite only when this process started it.
    A signal during start-up stops what is up so far; a second signal while stopping ends at once."""
    from emulator.azurite import running_azurite
    from emulator.instance import Emulator
    from emulator.local_host import LocalHost, load_settings
    from emulator.mysql_proxy import MysqlShimProxy

    signals = StopSignals()
    estate = yaml.safe_load(ESTATE.read_text(encoding="utf-8"))
    with contextlib.ExitStack() as started:
        try:
            storage = started.enter_context(running_azurite())
            proxy = MysqlShimProxy(("127.0.0.1", 3306), port=mysql_port)
            started.callback(proxy.stop)
            estate["subscriptions"][0]["resource_groups"][1]["mysql_servers"][0]["port"] = proxy.port
            prepare_databases(estate)
            emulator = Emulator.start(estate, state_dir=STATE / "emulator", port=arm_port)
            started.callback(emulator.stop)
            values = emulator.environment() | {
                "FUNCTIONS_WORKER_RUNTIME": "python",
                "AzureWebJobsStorage": storage,
                "PASSWORDLESS_CATALOG": str(CATALOG),
                "PASSWORDLESS_FUNCTION_OBJECT_ID": estate["function_identity"]["object_id"],
                "PASSWORDLESS_SUBSCRIPTIONS": SUBSCRIPTION,
                "PASSWORDLESS_TAG_PREFIX": "passwordless",
                "PASSWORDLESS_AUDIT_SCHEDULE": "0 0 */6 * * *",
                "PASSWORDLESS_APPLY_ROLE": "",  # no App Service Authentication in front of a local host
                "PASSWORDLESS_OUTCOME_TOPIC_ENDPOINT": emulator.topic_endpoint(),
            }
            settings_path.write_text(json.dumps({"IsEncrypted": False, "Values": values}, indent=2) + "\n")
            load_settings(settings_path)
            host = LocalHost(port=host_port).start()
            started.callback(host.stop)
            (STATE / "playground.json").write_text(
                json.dumps({"arm": emulator.arm_endpoint, "ca_bundle": emulator.ca_bundle, "host": host.url})
            )
            print_next_steps(emulator.arm_endpoint, host.url, settings_path, proxy.port)
            signals.wait()
        except Stopping as stop:
            print(f"{stop}: stopping during start-up", file=sys.stderr, flush=True)
    print("Passwordless playground stopped.", file=sys.stderr, flush=True)
    return 0


class Stopping(BaseException):
    """SIGTERM or SIGINT arrived during start-up: unwinds ``serve`` so that what is up gets stopped.
    A BaseException, so that no ``except Exception`` on the way swallows it."""


class StopSignals:
    """SIGTERM and SIGINT, from the first line of ``serve``: ``make playground`` passes SIGTERM on to
    this process, a terminal sends SIGINT (Ctrl-C) to the whole group. Before ``wait`` a signal raises
    ``Stopping``; during it, ``wait`` returns. Either way the default actions come back at once, so a
    second signal while stopping ends the process instead of being swallowed."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self._requested = threading.Event()
        self._waiting = False
        for signum in self.SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        for other in self.SIGNALS:
            signal.signal(other, signal.SIG_DFL)
        self._requested.set()
        if not self._waiting:
            raise Stopping(signal.Signals(signum).name)

    def wait(self) -> None:
        self._waiting = True
        if not self._requested.is_set():
            self._requested.wait()


def prepare_databases(estate: dict[str, Any]) -> None:
    """Fresh playground databases on the local servers, each with a table to read and write."""
    from emulator.mysql_local import prepare_mysql, reset_mysql, root_connection
    from emulator.postgres_local import owner_connection, prepare_postgres, reset_postgres

    reset_postgres(estate)
    prepare_postgres(estate)
    data = estate["subscriptions"][0]["resource_groups"][1]
    with owner_connection(data["postgres_servers"][0], "playground_orders") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL)")
        cur.execute("INSERT INTO orders (item) VALUES ('espresso'), ('croissant')")
    reset_mysql(estate)
    prepare_mysql(estate)
    with root_connection("playground_shop") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE carts (id int AUTO_INCREMENT PRIMARY KEY, item varchar(100) NOT NULL)")


def print_next_steps(arm: str, host: str, settings: Path, mysql_port: int) -> None:
    shop = f"{APPS}/shop-web"
    print(
        f"""
Passwordless playground is up (Ctrl-C stops it):
  Azure emulator (ARM)     {arm}
  function app, local host {host}/api/...   (Event Grid webhook: {host}/runtime/webhooks/eventgrid)
  PostgreSQL               pg-playground -> 127.0.0.1:5432, database playground_orders
  MySQL endpoint           mysql-playground -> 127.0.0.1:{mysql_port} (shim over the local MariaDB)
  settings                 {settings} (works as it is, with `func start` too)

Try next:
  .venv/bin/passwordless --settings {settings} apply -g rg-apps -n shop-web
  curl -s '{host}/api/connections?app={shop}'
  .venv/bin/python -m emulator.playground event --tag legacy-portal orders:reader
""",
        flush=True,
    )


def feed_event(app: str, value: str, *, host: str | None) -> int:
    """Tag the app through the emulator's control surface, then deliver the ARM event it recorded."""
    state = json.loads((STATE / "playground.json").read_text(encoding="utf-8"))
    context = ssl.create_default_context(cafile=state["ca_bundle"])
    site_id = app if app.startswith("/") else f"{APPS}/{app}"

    def control(method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{state['arm']}/_emulator/{path}", data=data, method=method, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    seen = len(control("GET", "events"))
    site = control("GET", f"site?resource_id={urllib.parse.quote(site_id)}")["result"]
    control("POST", "set-tags", {"resource_id": site_id, "tags": {**(site.get("tags") or {}), "passwordless": value}})
    events = control("GET", "events")[seen:]
    if not events:
        print(f"no ARM event was recorded for {site_id}", file=sys.stderr)
        return 1
    target = f"{host or state['host']}/runtime/webhooks/eventgrid?functionName={EVENTGRID_FUNCTION}"
    delivery = urllib.request.Request(
        target,
        data=json.dumps(events).encode(),
        method="POST",
        headers={"content-type": "application/json", "aeg-event-type": "Notification"},
    )
    with urllib.request.urlopen(delivery, timeout=120) as answer:
        status = answer.status
    for event in events:
        print(f"{event['eventType']}  {event['subject']}  -> {EVENTGRID_FUNCTION}: HTTP {status}")
    return 0 if status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
