"""Faults (PRODUCT.md §8): ARM answering 429/500 or hanging up, database connections dropped mid-reconcile.

The first tests prove the emulator's fault injection itself, with the real SDK clients. The rest drive
the product (real SDK clients -> emulator, real PostgreSQL underneath) through faults and prove: each
reconcile converges or ends with an error of the product's tree naming what it was doing; a re-run
without faults converges; nothing is left half-written.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests
from azure.core.exceptions import HttpResponseError, ServiceResponseError, ServiceResponseTimeoutError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web.models import StringDictionary

from emulator import Emulator
from emulator.faults import FaultKind, Faults, PostgresConnectionDropper
from provisioning.errors import PermanentError, TransientError
from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.reconciler import Mode, ReconcileResult
from provisioning.resource_ids import AppRef, parse_app_id
from tests.conftest import POSTGRES_DSN
from tests.emulator.emulator_estate import ESTATE, SHOP_WEB, SUBSCRIPTION, arm_options
from tests.estates import APPS_GROUP
from tests.estates import SUBSCRIPTION as PRODUCT_SUBSCRIPTION

SHOP_WEB_GET = f"GET {SHOP_WEB}"


# -- the emulator's fault injection ----------------------------------------------------------------
@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator.start(copy.deepcopy(ESTATE), state_dir=tmp_path / "emulator", throttle=False) as running:
        yield running


@pytest.fixture
def web(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebSiteManagementClient]:
    """The real SDK client, without retries, so each injected fault shows as the SDK reports it."""
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "MSI_ENDPOINT", "MSI_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in emu.environment().items():
        monkeypatch.setenv(name, value)
    with (
        ManagedIdentityCredential() as credential,
        WebSiteManagementClient(credential, SUBSCRIPTION, retry_total=0, **arm_options(emu)) as client,
    ):
        yield client


def draws(faults: Faults, n: int) -> list[FaultKind | None]:
    return [faults.draw("GET", f"/r/{i}") for i in range(n)]


def test_faults_are_reproducible_from_the_seed_and_recorded() -> None:
    first, again, other = Faults(0.3, seed=7), Faults(0.3, seed=7), Faults(0.3, seed=8)
    sequence = draws(first, 200)
    assert sequence == draws(again, 200)
    assert sequence != draws(other, 200)
    assert 30 <= sum(kind is not None for kind in sequence) <= 90  # about 30% of 200
    assert {kind for kind in sequence if kind} == set(FaultKind)
    assert [(f.kind, f.path) for f in first.injected] == [
        (kind, f"/r/{i}") for i, kind in enumerate(sequence) if kind is not None
    ]
    assert first.eligible == 200


def test_weights_limit_match_and_the_token_endpoint() -> None:
    only_500 = Faults(1.0, kinds={FaultKind.ERROR: 1, FaultKind.LOST: 0}, limit=2, match="patch /x")
    assert [only_500.draw("PATCH", "/x/1"), only_500.draw("GET", "/x/1"), only_500.draw("PATCH", "/X/2")] == [
        FaultKind.ERROR,
        None,
        FaultKind.ERROR,
    ]
    assert only_500.draw("PATCH", "/x/3") is None  # the limit is reached
    assert Faults(1.0).draw("GET", "/token", token=True) is None
    assert Faults(1.0, token=True).draw("GET", "/token", token=True) is not None
    with pytest.raises(ValueError, match="rate"):
        Faults(1.5)
    with pytest.raises(ValueError, match="kinds"):
        Faults(0.5, kinds=())


def test_throttle_answers_429_with_retry_after(emu: Emulator, web: WebSiteManagementClient) -> None:
    emu.set_faults(Faults(1.0, kinds=[FaultKind.THROTTLE], retry_after_s=3, match=SHOP_WEB_GET, limit=1))
    with pytest.raises(HttpResponseError) as raised:
        web.web_apps.get("rg-apps", "shop-web")
    assert raised.value.status_code == 429 and raised.value.error is not None
    assert raised.value.error.code == "TooManyRequests"
    assert raised.value.response is not None and raised.value.response.headers["Retry-After"] == "3"
    assert web.web_apps.get("rg-apps", "shop-web").name == "shop-web"  # limit=1: the next one is served
    assert emu.faults is not None and emu.faults.counts() == {FaultKind.THROTTLE: 1}


def test_error_answers_500_in_arm_shape_and_is_not_served(emu: Emulator, web: WebSiteManagementClient) -> None:
    emu.set_faults(Faults(1.0, kinds=[FaultKind.ERROR], match="/config/appsettings"))
    with pytest.raises(HttpResponseError) as raised:
        web.web_apps.update_application_settings("rg-apps", "shop-web", StringDictionary(properties={"A": "1"}))
    assert raised.value.status_code == 500 and raised.value.error is not None
    assert raised.value.error.code == "InternalServerError"
    assert emu.app_settings(SHOP_WEB) == {"EXISTING": "keep-me"}


def test_timeout_holds_then_hangs_up_without_serving(emu: Emulator, web: WebSiteManagementClient) -> None:
    emu.set_faults(Faults(1.0, kinds=[FaultKind.TIMEOUT], hold_s=0.3, match="/config/appsettings"))
    started = time.monotonic()
    with pytest.raises(ServiceResponseError):
        web.web_apps.update_application_settings("rg-apps", "shop-web", StringDictionary(properties={"A": "1"}))
    assert time.monotonic() - started >= 0.3
    assert emu.app_settings(SHOP_WEB) == {"EXISTING": "keep-me"}


def test_a_hold_longer_than_the_read_timeout_times_the_client_out(emu: Emulator, web: WebSiteManagementClient) -> None:
    emu.set_faults(Faults(1.0, kinds=[FaultKind.TIMEOUT], hold_s=30, match=SHOP_WEB_GET))
    started = time.monotonic()
    with pytest.raises(ServiceResponseTimeoutError):
        web.web_apps.get("rg-apps", "shop-web", read_timeout=0.3)
    assert time.monotonic() - started < 5
    emu.set_faults(None)  # lets the held request go, so the emulator stops at once


def test_lost_answer_serves_the_write_then_hangs_up(emu: Emulator, web: WebSiteManagementClient) -> None:
    emu.set_faults(Faults(1.0, kinds=[FaultKind.LOST], match="/config/appsettings"))
    with pytest.raises(ServiceResponseError):
        web.web_apps.update_application_settings("rg-apps", "shop-web", StringDictionary(properties={"A": "1"}))
    assert emu.app_settings(SHOP_WEB) == {"A": "1"}  # it happened; the caller cannot tell


def test_the_token_endpoint_and_control_surface_are_spared_unless_asked(
    emu: Emulator, web: WebSiteManagementClient
) -> None:
    emu.set_faults(Faults(1.0, kinds=[FaultKind.ERROR]))
    with pytest.raises(HttpResponseError):
        web.web_apps.get("rg-apps", "shop-web")  # the token request before it was served
    assert emu.app_settings(SHOP_WEB) == {"EXISTING": "keep-me"}
    assert emu.faults is not None
    assert [(f.method, f.path) for f in emu.faults.injected] == [("GET", SHOP_WEB)]
    assert [r.status for r in emu.requests if r.kind == "token"] == [200]
    control = requests.get(f"{emu.arm_endpoint}/_emulator/events", verify=emu.ca_bundle, timeout=5)
    assert control.status_code == 200 and len(emu.faults.injected) == 1


def test_sdk_retries_ride_through_status_faults(emu: Emulator, web: WebSiteManagementClient) -> None:
    emu.set_faults(Faults(1.0, kinds=[FaultKind.ERROR, FaultKind.TIMEOUT], hold_s=0.05, limit=2))
    site = web.web_apps.get("rg-apps", "shop-web", retry_total=3, retry_backoff_factor=0.01)
    assert site.name == "shop-web"
    assert emu.faults is not None and len(emu.faults.injected) == 2
    assert [r.status for r in emu.requests if r.kind == "read"][-1] == 200


# -- the product under faults ----------------------------------------------------------------------
TAGS = ("orders:writer", "orders:reader", "orders:reader; ledger:writer")
# What a clear error starts with: the action the product was taking when it failed.
ACTION = re.compile(r"^(read|write|set|create|connect|grant|revoke|rebind|drop|lock for) .+: .+", re.DOTALL)


class Outcome:
    """One reconcile: its result, or the error it ended with (any exception at all is caught)."""

    def __init__(self, app: AppRef, run: Callable[[], ReconcileResult | None]) -> None:
        self.app = app
        self.result: ReconcileResult | None = None
        self.error: BaseException | None = None
        try:
            self.result = run()
        except Exception as exc:  # judged by `unclear`, never swallowed
            self.error = exc

    @property
    def unclear(self) -> str | None:
        """Why the error is not a clear one of the product's tree (None when it is, or none)."""
        if self.error is None:
            return None
        if not isinstance(self.error, (TransientError, PermanentError)):
            return f"{type(self.error).__module__}.{type(self.error).__qualname__} escaped: {self.error}"
        if not ACTION.match(str(self.error)):
            return f"{type(self.error).__name__} does not name its action: {self.error}"
        return None

    def __repr__(self) -> str:
        if self.error is None:
            return f"{self.app.site}: converged"
        return f"{self.app.site}: {type(self.error).__name__}: {self.error}"


def new_apps(emulator: Any, count: int) -> dict[AppRef, dict[str, str]]:
    """Apps asking for PostgreSQL, each with unrelated settings that must survive whatever happens."""
    apps: dict[AppRef, dict[str, str]] = {}
    for index in range(count):
        unrelated = {"EXISTING": f"keep-{index}", "FEATURE_FLAG": "on", "WEBSITE_RUN_FROM_PACKAGE": "1"}
        site_id = emulator.create_site(
            PRODUCT_SUBSCRIPTION,
            APPS_GROUP,
            f"faulty-{uuid.uuid4().hex[:10]}",
            tags={"passwordless": TAGS[index % len(TAGS)]},
            app_settings=unrelated,
        )
        apps[parse_app_id(site_id)] = unrelated
    return apps


def principals_bound_to(object_id: str) -> list[str]:
    with psycopg2.connect(POSTGRES_DSN) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pgaadauth_list_principals(false) WHERE lower(objectid) = %s", (object_id,))
        names = [row[0] for row in cur.fetchall()]
    conn.close()
    return names


def assert_repaired(emulator: Any, runtime: Any, apps: dict[AppRef, dict[str, str]]) -> None:
    """Faults off: each app's reconcile converges, and nothing is left half-written."""
    reruns = {app: Outcome(app, lambda app=app: runtime.reconciler.reconcile_app(app)) for app in apps}
    assert [o for o in reruns.values() if o.error is not None] == []
    for app, unrelated in apps.items():
        assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty, app.site
        settings = emulator.app_settings(app.id)
        assert {key: settings.get(key) for key in unrelated} == unrelated, app.site
        identity = emulator.identity_of(app.id)
        assert identity is not None, app.site
        assert principals_bound_to(identity[0].lower()) == [principal_name(app, Engine.POSTGRES)], app.site


@pytest.fixture
def faulty(emulator: Any) -> Iterator[Any]:
    """The session's emulator; whatever faults a test sets are switched off after it."""
    yield emulator
    emulator.set_faults(None)


@pytest.fixture
def dropper(local_postgres: dict[str, Any]) -> PostgresConnectionDropper:
    """Drops the product's sessions (it logs in as the server's Entra admin) on the real PostgreSQL."""
    login = local_postgres["administrators"][0]["principal_name"]
    return PostgresConnectionDropper(POSTGRES_DSN, login=login, rate=0.15, seed=11)


MIX = {FaultKind.THROTTLE: 1, FaultKind.ERROR: 1, FaultKind.TIMEOUT: 1, FaultKind.LOST: 1}


@pytest.mark.integration
def test_under_arm_faults_and_dropped_connections_each_reconcile_converges_or_fails_clearly(
    faulty: Any, runtime: Any, dropper: PostgresConnectionDropper
) -> None:
    """20% of ARM requests fault; at 15% of them the product's database sessions are dropped too,
    while it waits on ARM with its connections idle. Seeded: a run is reproducible."""
    apps = new_apps(faulty, 12)
    faults = Faults(0.2, seed=3, kinds=MIX, hold_s=0.1, on_request=dropper)
    faulty.set_faults(faults)
    outcomes = [Outcome(app, lambda app=app: runtime.reconciler.reconcile_app(app)) for app in apps]
    faulty.set_faults(None)

    assert [o.unclear for o in outcomes if o.unclear] == []
    # Every fault injected is one that passes: none may be reported as permanent (do not retry).
    assert [o for o in outcomes if o.error is not None and not isinstance(o.error, TransientError)] == []
    assert len(faults.counts()) >= 3 and faults.eligible >= 60, faults.counts()
    assert dropper.terminated > 0
    assert_repaired(faulty, runtime, apps)


@pytest.mark.integration
def test_connections_dropped_at_random_moments_mid_query_too(
    faulty: Any, runtime: Any, dropper: PostgresConnectionDropper
) -> None:
    """The same, with the sessions also dropped from a background thread, so mid-query and between a
    read and its ROLLBACK as well. The moments are not reproducible; the assertions hold for any."""
    apps = new_apps(faulty, 10)
    faults = Faults(0.2, seed=17, kinds=MIX, hold_s=0.1)
    faulty.set_faults(faults)
    with dropper.running(mean_interval_s=0.05) as background:
        outcomes = [Outcome(app, lambda app=app: runtime.reconciler.reconcile_app(app)) for app in apps]
    faulty.set_faults(None)

    assert background.failures == []
    assert [o.unclear for o in outcomes if o.unclear] == []
    assert [o for o in outcomes if o.error is not None and not isinstance(o.error, TransientError)] == []
    assert faults.injected and dropper.terminated > 0
    assert_repaired(faulty, runtime, apps)


def write_request(app: AppRef, which: str) -> str:
    """The ``"METHOD /path"`` of one of the ARM requests a first provisioning makes."""
    return {
        "patch identity": f"PATCH {app.id}",
        "put settings": f"PUT {app.id}/config/appsettings",
        "list settings": f"POST {app.id}/config/appsettings/list",
        "get site": f"GET {app.id}",
    }[which]


CONVERGES = "converges"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("request_name", "kind", "expected"),
    [
        # azure-core retries 500 on every method, and a dropped connection on GET and PUT: ridden through.
        ("patch identity", FaultKind.ERROR, CONVERGES),
        ("patch identity", FaultKind.THROTTLE, CONVERGES),  # Retry-After is honoured for any method
        ("put settings", FaultKind.ERROR, CONVERGES),
        ("put settings", FaultKind.TIMEOUT, CONVERGES),
        ("put settings", FaultKind.LOST, CONVERGES),  # PUT again with the same merged settings
        ("list settings", FaultKind.ERROR, CONVERGES),
        ("get site", FaultKind.TIMEOUT, CONVERGES),
        # A dropped connection on PATCH or POST is not retried (they are not idempotent to azure-core).
        ("patch identity", FaultKind.TIMEOUT, "set the identities of"),
        ("patch identity", FaultKind.LOST, "set the identities of"),  # the identity was switched on
        ("list settings", FaultKind.LOST, "read the app settings of"),
    ],
)
def test_one_arm_fault_on_a_given_request(
    faulty: Any, runtime: Any, request_name: str, kind: FaultKind, expected: str
) -> None:
    """Exactly one fault on one request of a first provisioning: it converges (the SDK retried) or
    ends with a TransientError naming the action; either way a re-run leaves it whole."""
    apps = new_apps(faulty, 1)
    (app,) = apps
    faults = Faults(1.0, kinds=[kind], hold_s=0.05, match=write_request(app, request_name), limit=1)
    faulty.set_faults(faults)
    outcome = Outcome(app, lambda: runtime.reconciler.reconcile_app(app))
    faulty.set_faults(None)

    assert [f.kind for f in faults.injected] == [kind]
    if expected == CONVERGES:
        assert outcome.error is None and outcome.result is not None and outcome.result.applied
    else:
        assert isinstance(outcome.error, TransientError) and str(outcome.error).startswith(expected), outcome
        assert outcome.unclear is None
    assert_repaired(faulty, runtime, apps)


@pytest.mark.integration
@pytest.mark.parametrize("moment", ["put settings", "get site"])
def test_connections_dropped_after_the_database_steps(
    faulty: Any, runtime: Any, dropper: PostgresConnectionDropper, moment: str
) -> None:
    """Dropped while the settings are written or the app is read again to verify: the verify's
    database read fails with a TransientError; the work was done, so the re-run has nothing to do."""
    apps = new_apps(faulty, 1)
    (app,) = apps
    dropper.rate = 1.0
    match = write_request(app, moment)
    faulty.set_faults(Faults(0.0, match=match, on_request=dropper))
    outcome = Outcome(app, lambda: runtime.reconciler.reconcile_app(app))
    faulty.set_faults(None)

    assert dropper.terminated > 0
    assert isinstance(outcome.error, TransientError) and outcome.unclear is None, outcome
    rerun = runtime.reconciler.reconcile_app(app)
    assert rerun is not None and rerun.plan.empty
    assert_repaired(faulty, runtime, apps)


@pytest.mark.integration
def test_a_connection_dropped_before_the_database_steps_is_transient(
    faulty: Any, runtime: Any, dropper: PostgresConnectionDropper
) -> None:
    """Dropped while the identity is switched on (the product holds idle connections from its
    observe): creating the principal then fails, and that failure is a TransientError, not the
    PermanentError the failed ROLLBACK on the closed connection would make of it."""
    apps = new_apps(faulty, 1)
    (app,) = apps
    dropper.rate = 1.0
    faulty.set_faults(Faults(0.0, match=write_request(app, "patch identity"), on_request=dropper))
    outcome = Outcome(app, lambda: runtime.reconciler.reconcile_app(app))
    faulty.set_faults(None)

    assert dropper.terminated > 0 and outcome.unclear is None, outcome
    assert isinstance(outcome.error, TransientError) and str(outcome.error).startswith("create principal"), outcome
    assert_repaired(faulty, runtime, apps)


@pytest.mark.integration
def test_a_connection_dropped_between_a_read_and_its_rollback_stays_in_the_error_tree(
    faulty: Any, runtime: Any, dropper: PostgresConnectionDropper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race is microseconds wide; the driver is made to meet it every time: the first ROLLBACK of
    the product's first connection finds its server session already terminated (for real)."""
    apps = new_apps(faulty, 1)
    (app,) = apps
    real_connect = psycopg2.connect
    armed = [True]

    class DiesBeforeRollback(psycopg2.extensions.connection):  # type: ignore[misc]
        def rollback(self) -> None:
            if armed[0]:
                armed[0] = False
                with real_connect(POSTGRES_DSN) as admin, admin.cursor() as cur:
                    cur.execute("SELECT pg_terminate_backend(%s, 5000)", (self.get_backend_pid(),))
                admin.close()
            super().rollback()

    def connect(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("application_name") == dropper.application_name:
            kwargs["connection_factory"] = DiesBeforeRollback
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(psycopg2, "connect", connect)
    outcome = Outcome(app, lambda: runtime.reconciler.reconcile_app(app))
    monkeypatch.setattr(psycopg2, "connect", real_connect)

    assert not armed[0] and outcome.unclear is None, outcome
    assert isinstance(outcome.error, TransientError) and str(outcome.error).startswith("read Entra bindings")
    assert_repaired(faulty, runtime, apps)


@pytest.mark.integration
def test_a_throttling_storm_ends_in_a_transient_error_carrying_retry_after(faulty: Any, runtime: Any) -> None:
    """Every read of the site answers 429: azure-core waits Retry-After three times, then the product
    raises a TransientError with the hint. Bounded, not forever: after each 429 the pacing also lets
    the reserve of the read bucket (26 tokens) come back at 25/s shared by one more caller counted
    (2, 3, 4): about 3 x 1 s + 26/12.5 + 26/8.3 + 26/6.25 s, some 12 s."""
    apps = new_apps(faulty, 1)
    (app,) = apps
    faults = Faults(1.0, kinds=[FaultKind.THROTTLE], retry_after_s=1, match=write_request(app, "get site"))
    faulty.set_faults(faults)
    started = time.monotonic()
    outcome = Outcome(app, lambda: runtime.reconciler.reconcile_app(app))
    elapsed = time.monotonic() - started
    faulty.set_faults(None)

    assert isinstance(outcome.error, TransientError) and outcome.unclear is None, outcome
    assert "ARM answered 429" in str(outcome.error) and outcome.error.retry_after == 1.0
    assert len(faults.injected) == 4  # the first try and azure-core's three status retries
    assert 12.0 <= elapsed < 16.0
    assert_repaired(faulty, runtime, apps)


@pytest.mark.integration
def test_each_try_of_an_arm_request_goes_out_with_short_timeouts(
    faulty: Any, runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured without waiting: the (connect, read) timeouts each ARM request goes out with, as the
    transport sees them; azure-core's default is 300 s each. This bounds one try only: a GET or PUT is
    tried up to four times, so a request that hangs every time takes up to four times as long."""
    apps = new_apps(faulty, 1)
    (app,) = apps
    seen: list[tuple[str, Any]] = []
    real_request = requests.Session.request

    def request(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(faulty.arm_endpoint + "/subscriptions/"):
            seen.append((f"{method} {url}", kwargs.get("timeout")))
        return real_request(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    runtime.reconciler.reconcile_app(app, Mode.PLAN)
    monkeypatch.setattr(requests.Session, "request", real_request)

    assert seen
    timeouts = {timeout for _, timeout in seen}
    assert all(isinstance(t, tuple) and t[0] <= 30 and t[1] <= 60 for t in timeouts), timeouts
