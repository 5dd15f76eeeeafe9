"""The control surface, in Python and over HTTP, and the emulator's own life cycle."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.web import WebSiteManagementClient

from emulator import ArmError, Emulator
from tests.emulator.emulator_estate import ESTATE, SHOP_WEB, STAGING, SUBSCRIPTION

REPOSITORY = Path(__file__).resolve().parents[2]


def test_recreating_and_disabling_the_system_identity(emu: Emulator) -> None:
    emu.recreate_system_identity(SHOP_WEB)
    first = emu.identity_of(SHOP_WEB)
    emu.recreate_system_identity(SHOP_WEB)
    second = emu.identity_of(SHOP_WEB)
    emu.disable_system_identity(SHOP_WEB)

    assert first is not None and second is not None and first != second
    assert "identity" not in emu.site(SHOP_WEB)
    assert emu.identity_of(SHOP_WEB) is None


def test_app_settings_are_set_and_removed_one_at_a_time(emu: Emulator) -> None:
    emu.set_app_setting(SHOP_WEB, "ADDED", "1")
    emu.set_app_setting(SHOP_WEB, "EXISTING", None)

    assert emu.app_settings(SHOP_WEB) == {"ADDED": "1"}


def test_deleting_a_site_takes_its_slots(emu: Emulator, web: WebSiteManagementClient) -> None:
    emu.delete_site(SHOP_WEB.upper())

    with pytest.raises(ResourceNotFoundError):
        web.web_apps.get("rg-apps", "shop-web")
    with pytest.raises(ArmError) as raised:
        emu.site(STAGING)
    assert raised.value.status == 404


def test_a_site_cannot_be_created_twice(emu: Emulator) -> None:
    with pytest.raises(ArmError) as raised:
        emu.create_site(SUBSCRIPTION, "RG-APPS", "SHOP-WEB")

    assert raised.value.status == 409


def test_the_control_surface_over_http(emu: Emulator) -> None:
    with requests.Session() as session:

        def call(method: str, operation: str, **options: Any) -> requests.Response:
            # verify per request: a REQUESTS_CA_BUNDLE in the environment would override session.verify
            return session.request(method, f"{emu.arm_endpoint}/_emulator/{operation}", verify=emu.ca_bundle, **options)

        created = call(
            "POST",
            "create-site",
            json={"subscription_id": SUBSCRIPTION, "resource_group": "rg-apps", "name": "http-app", "tags": {"a": "b"}},
        )
        site_id = created.json()["result"]
        call("POST", "set-app-setting", json={"resource_id": site_id, "name": "K", "value": "V"})
        site = call("GET", "site", params={"resource_id": site_id}).json()["result"]
        settings = call("GET", "app-settings", params={"resource_id": site_id}).json()["result"]
        events = call("GET", "events").json()
        unknown = call("POST", "reboot", json={})
        malformed = call("POST", "set-tags", json={"resource": site_id})
        missing = call("GET", "site", params={"resource_id": site_id + "-gone"})
        cleared = call("DELETE", "events")
        requests_seen = call("GET", "requests").json()

    assert created.status_code == 200 and site["tags"] == {"a": "b"}
    assert settings == {"K": "V"}
    assert [e["data"]["operationName"] for e in events] == [
        "Microsoft.Web/sites/write",
        "Microsoft.Web/sites/config/write",
    ]
    assert (unknown.status_code, malformed.status_code, missing.status_code) == (404, 400, 404)
    assert missing.json()["error"]["code"] == "ResourceNotFound"
    assert cleared.status_code == 204 and emu.events == []
    assert requests_seen == []  # the control surface is not ARM traffic


def test_stop_closes_idle_connections_and_leaves_no_thread(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    emu = Emulator.start(ESTATE, state_dir=tmp_path)
    with requests.Session() as session:  # keeps its connection open across stop()
        assert session.get(f"{emu.arm_endpoint}/_emulator/events", verify=emu.ca_bundle).status_code == 200
        started = time.monotonic()
        emu.stop()
        stopped_in = time.monotonic() - started

    assert stopped_in < 1.0
    assert set(threading.enumerate()) <= before


def test_serve_from_the_command_line(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    command = [
        sys.executable,
        "-m",
        "emulator",
        "serve",
        "--estate",
        str(REPOSITORY / "emulator/estates/demo.yaml"),
        "--state-dir",
        str(state_dir),
    ]
    with subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        try:
            description_file = state_dir / "emulator.json"
            deadline = time.monotonic() + 10
            while not description_file.exists() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            description = json.loads(description_file.read_text(encoding="utf-8"))
            with requests.Session() as session:
                answer = session.get(f"{description['arm_endpoint']}/_emulator/events", verify=description["ca_bundle"])
        finally:
            process.terminate()
            process.wait(timeout=10)

    assert answer.status_code == 200 and answer.json() == []
    assert set(description) >= {"arm_endpoint", "ca_bundle", "identity_endpoint", "identity_header"}
    assert description["environment"]["IDENTITY_ENDPOINT"] == description["identity_endpoint"]
    assert process.returncode == 0
