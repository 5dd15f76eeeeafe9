"""The HTML audit report as a person sees it: rendered by headless Chromium, DOM checked, screenshot
kept under .artifacts/ for a look."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from provisioning.audit import audit
from provisioning.report import write_reports
from provisioning.resource_ids import parse_app_id
from tests.conftest import artifacts_dir, require
from tests.estates import APPS_GROUP, SUBSCRIPTION

pytestmark = pytest.mark.integration
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(*arguments: str, profile: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    require(None if binary else "Chromium is not installed (Debian package 'chromium'; make test installs it)")
    assert binary is not None
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *arguments],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_html_report_renders_counts_and_drifted_apps(emulator: Any, runtime: Any, tmp_path: Path) -> None:
    drifted = parse_app_id(
        emulator.create_site(
            SUBSCRIPTION, APPS_GROUP, f"seen-{uuid.uuid4().hex[:6]}", tags={"passwordless": "orders:reader"}
        )
    )
    broken = parse_app_id(
        emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"typo-{uuid.uuid4().hex[:6]}", tags={"passwordless": "orders"})
    )
    wanted = {drifted.key, broken.key}
    report = audit(runtime.reconciler, [s for s in runtime.discovery.list_tagged_apps() if s.app.key in wanted])
    page = write_reports(report, artifacts_dir("report"))["html"]

    dom = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "dom").stdout
    assert "Passwordless connections audit" in dom
    assert '<div class="card drifted"><b>2</b><span>drifted</span></div>' in dom
    assert drifted.display_name in dom and broken.display_name in dom
    assert "request-invalid" in dom and "identity-disabled" in dom

    shot = page.with_suffix(".png")
    chromium(f"--screenshot={shot}", "--window-size=1280,900", page.as_uri(), profile=tmp_path / "shot")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
