"""The HTML audit report as a person sees it: a 40-app estate with every state and drift kind,
audited three times (the trend), rendered by headless Chromium; DOM checked, screenshot kept under
.artifacts/report/ for a look."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from provisioning.audit import AppAudit, AuditReport, Drift, DriftKind, audit
from provisioning.fixes import apply_command
from provisioning.report import write_reports
from provisioning.resource_ids import AppRef, parse_app_id
from tests.conftest import artifacts_dir, require
from tests.e2e.test_drift_kinds import CASES, SHARED_ID
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
PLACEHOLDER = re.compile(r"&lt;[^&]{1,80}&gt;")  # a `<…>` blank shown as text


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


def site(emulator: Any, tags: dict[str, str], *, group: str = APPS_GROUP, prefix: str = "app") -> AppRef:
    return parse_app_id(emulator.create_site(SUBSCRIPTION, group, f"{prefix}-{uuid.uuid4().hex[:6]}", tags=tags))


@pytest.fixture
def own_emulator(estate: dict[str, Any], product_environment: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """An emulator of its own: 40 apps' writes must not drain the shared one's ARM buckets."""
    from emulator import Emulator

    emu = Emulator.start(estate, state_dir=tmp_path / "emulator", throttle=False)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in emu.environment().items():
            patch.setenv(key, value)
        yield emu
    emu.stop()


def test_a_40_app_estate_report_shows_every_state_a_fix_per_app_and_the_trend(
    own_emulator: Any, pg_connect: Any, tmp_path: Path
) -> None:
    from provisioning.config import Config
    from provisioning.runtime import build_runtime

    emulator, runtime = own_emulator, build_runtime(Config.from_environment())
    writer = {"passwordless": "orders:writer"}
    apps: dict[str, list[AppRef]] = {"clean": [], "pending": [], "drifted": [], "invalid": [], "denied": []}
    for _ in range(9):
        apps["clean"].append(site(emulator, writer, prefix="ok"))
    for _ in range(6):
        apps["pending"].append(site(emulator, {"passwordless": "orders:reader"}, prefix="new"))
    injections = []
    for kind, extra, inject in CASES * 2:  # every drift kind, twice
        app = site(emulator, writer | extra, prefix=kind.value.split("-")[0])
        injections.append((app, inject))
        apps["drifted"].append(app)
    for tag in ("orders", "orders:", ":writer"):
        apps["invalid"].append(site(emulator, {"passwordless": tag}, prefix="typo"))
    apps["denied"] += [site(emulator, {"passwordless": "orders:owner"}, prefix="role") for _ in range(2)]
    apps["denied"] += [site(emulator, {"passwordless": "foreign:reader"}, prefix="noadmin") for _ in range(2)]
    gone = site(emulator, {"passwordless": "orders:reader"}, prefix="gone")
    for app in [*apps["clean"], *apps["drifted"], gone]:
        runtime.reconciler.reconcile_app(app)
    for app, inject in injections:
        inject(emulator, pg_connect, app)
    emulator.delete_site(gone.id)  # on_remove: report keeps its principal: an orphan

    mine = {app.key for group in apps.values() for app in group}
    stand_ins = conflict_and_error()  # not reachable on demand on a shared estate: built, not observed
    assert len(mine) + len(stand_ins) == 40 and SHARED_ID

    def audited() -> AuditReport:
        sites = [s for s in runtime.discovery.list_tagged_apps() if s.app.key in mine]
        found = audit(runtime.reconciler, sites)
        return AuditReport(
            found.started, found.finished, False, (*found.apps, *stand_ins), found.orphans, {}, found.incomplete
        )

    out = artifacts_dir("report")
    (out / "history.json").unlink(missing_ok=True)
    first = audited()
    write_reports(first, out)
    for app in apps["pending"][:3]:  # the first applies land between audits: the trend improves
        runtime.reconciler.reconcile_app(app)
    write_reports(audited(), out)
    for app in apps["drifted"][:8]:
        runtime.reconciler.reconcile_app(app)
    last = audited()
    page = write_reports(last, out)["html"]

    counts = last.counts()
    assert counts["clean"] == 9 + 3 + 8 and counts["pending"] == 3 and counts["drifted"] == 8
    assert (counts["invalid"], counts["denied"], counts["conflict"], counts["error"]) == (3, 4, 1, 1)
    assert {d.kind for a in first.apps for d in a.drift} >= {kind for kind, _, _ in CASES}
    assert any(f"principal '{principal_of(gone)}'" in d.detail for d in last.orphans)

    dom = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "dom").stdout
    assert not PLACEHOLDER.search(dom), PLACEHOLDER.search(dom)
    for state, n in counts.items():
        assert f'<div class="card {state}"><b>{n}</b><span>{state}</span></div>' in dom
    rows = re.findall(r'<tr class="app ([a-z]+)"', dom)
    assert len(rows) == 40 and set(rows) == {s for s, n in counts.items() if n}
    for app in last.apps:
        if app.status == "clean":
            continue
        if any(d.kind is DriftKind.ADMIN_MISSING for d in app.drift):
            assert "az postgres flexible-server microsoft-entra-admin create" in dom
        else:
            assert escape(apply_command(app.app)) in dom, app.app.display_name
    orphan = next(d for d in last.orphans if principal_of(gone) in d.detail)
    assert escape(orphan.fix or "") in dom
    assert '<svg id="trend"' in dom and dom.count('<text x="') >= 3 + 2
    assert "Trend over the last 3 audits" in dom
    for header in ("subscription", "resource group", "severity"):
        assert f">{header}</th>" in dom
    assert '<input id="filter"' in dom and "40 of 40 shown" in dom  # the inline script ran

    shot = page.with_suffix(".png")
    chromium(f"--screenshot={shot}", "--window-size=1400,2600", page.as_uri(), profile=tmp_path / "shot")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 30_000

    with pg_connect("postgres") as conn, conn.cursor() as cur:  # the orphan's fix, run as printed
        cur.execute(orphan.fix)
    assert not any(principal_of(gone) in d.detail for d in audit(runtime.reconciler, []).orphans)


def principal_of(app: AppRef) -> str:
    from provisioning.models import Engine
    from provisioning.principal_names import principal_name

    return principal_name(app, Engine.POSTGRES)


def escape(text: str) -> str:
    """As a serialized DOM writes text: quotes stay as they are."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def conflict_and_error() -> tuple[AppAudit, ...]:
    group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}/providers/Microsoft.Web/sites"
    held = parse_app_id(f"{group}/held-{uuid.uuid4().hex[:6]}")
    lost = parse_app_id(f"{group}/lost-{uuid.uuid4().hex[:6]}")
    return (
        AppAudit(held, (Drift(DriftKind.PRINCIPAL_CONFLICT, "principal 'held' is bound to another live app"),)),
        AppAudit(lost, error=f"read the app settings of {lost.id}: ARM answered 503 ({datetime.now(UTC):%H:%M})"),
    )
