"""Ten simultaneous reconciles of one app, as ten function instances would run them."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from provisioning.azure.credentials import default_credential
from provisioning.azure.locks import AppLocks
from provisioning.config import Config
from provisioning.errors import LockBusy
from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.resource_ids import parse_app_id
from provisioning.runtime import build_runtime
from tests.estates import APPS_GROUP, SUBSCRIPTION

pytestmark = pytest.mark.integration
UNRELATED = {f"SETTING_{n}": f"value-{n}" for n in range(20)}


def test_ten_concurrent_reconciles_write_once_and_lose_nothing(
    emulator: Any, product_environment: dict[str, str], pg_connect: Any
) -> None:
    site_id = emulator.create_site(
        SUBSCRIPTION,
        APPS_GROUP,
        f"busy-{uuid.uuid4().hex[:8]}",
        tags={"passwordless": "orders:writer"},
        app_settings=UNRELATED,
    )
    app = parse_app_id(site_id)
    instances = [build_runtime(Config.from_environment()) for _ in range(10)]  # separate clients and caches
    emulator.clear_requests()
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda runtime: runtime.reconciler.reconcile_app(app), instances))

    assert sum(1 for r in results if r.applied) == 1
    assert all(r.plan.empty for r in results if not r.applied)
    puts = [r for r in emulator.requests if r.method == "PUT" and r.path.lower().endswith("/config/appsettings")]
    patches = [r for r in emulator.requests if r.method == "PATCH"]
    assert (len(puts), len(patches)) == (1, 1)
    settings = emulator.app_settings(site_id)
    assert {k: settings[k] for k in UNRELATED} == UNRELATED
    with pg_connect("postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (principal_name(app, Engine.POSTGRES),))
        assert cur.fetchone() == (1,)


def test_a_held_lock_makes_a_second_apply_wait_then_give_up(emulator: Any, product_environment: dict[str, str]) -> None:
    app = parse_app_id(emulator.create_site(SUBSCRIPTION, APPS_GROUP, f"held-{uuid.uuid4().hex[:8]}"))
    config = Config.from_environment()
    holder = AppLocks(default_credential(), config)
    impatient = AppLocks(default_credential(), config, wait_seconds=0.5)
    with holder.hold(app), pytest.raises(LockBusy, match="holds its lock"), impatient.hold(app):
        pass
    with impatient.hold(app):  # released: free again
        pass
