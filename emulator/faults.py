"""Fault injection: ARM answering 429 or 500, requests that hang or lose their answer, and database
connections dropped under the product.

ARM faults (`Faults`) are drawn per request from a seeded random generator, in the order requests
arrive, so a sequential run is reproducible. Only ARM's own routes (those with an api-version) are
eligible; the managed-identity token endpoint only when `token=True`; the control surface and the
outcome topic never. Every injected fault is recorded (`Faults.injected`).

Kinds:

- ``throttle``: 429 ``TooManyRequests`` with ``Retry-After``; the request is not served.
- ``error``: 500 ``InternalServerError`` in ARM's error shape; the request is not served.
- ``timeout``: the request is held for ``hold_s`` seconds, then the connection is closed with no
  answer, as a gateway that gave up would; the request is not served. A ``hold_s`` longer than the
  client's read timeout makes the client time out by itself first.
- ``lost``: the request is served (a write takes effect), then the connection is closed with no
  answer: the caller cannot tell whether it happened.

Database faults (`PostgresConnectionDropper`) terminate the product's server sessions on the real
local PostgreSQL, as a failover or a network cut would: either at seeded random ARM requests (pass
it as `Faults(on_request=...)`; the product is then waiting on ARM with its database connections
idle), or at seeded random moments from a background thread (which can land mid-query).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import TracebackType

from emulator.errors import ArmError


class FaultKind(str, Enum):
    THROTTLE = "throttle"
    ERROR = "error"
    TIMEOUT = "timeout"
    LOST = "lost"


ALL_KINDS = tuple(FaultKind)


@dataclass(frozen=True)
class InjectedFault:
    kind: FaultKind
    method: str
    path: str


class Faults:
    """Which ARM requests fail, and how. Give it to `Emulator.start(faults=...)` or `set_faults`.

    `rate`: the chance that an eligible request gets a fault; `kinds`: the kinds drawn from, equally
    likely, or a mapping of kind to weight; `seed`: the generator's seed; `hold_s`: how long a
    ``timeout`` holds a request; `retry_after_s`: the ``Retry-After`` of a 429 (ARM sends whole
    seconds, at least 1); `token`: the token endpoint is eligible too; `match`: only requests whose
    ``"METHOD /path"`` contains this (case-insensitive) are eligible; `limit`: at most this many
    faults; `on_request`: called with (method, path) for every eligible request before the draw,
    outside the emulator's lock (e.g. a `PostgresConnectionDropper`).
    """

    def __init__(
        self,
        rate: float = 0.2,
        *,
        seed: int = 0,
        kinds: Iterable[FaultKind | str] | Mapping[FaultKind | str, float] = ALL_KINDS,
        hold_s: float = 0.2,
        retry_after_s: int = 1,
        token: bool = False,
        match: str | None = None,
        limit: int | None = None,
        on_request: Callable[[str, str], None] | None = None,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        weights = dict(kinds) if isinstance(kinds, Mapping) else dict.fromkeys(kinds, 1.0)
        self._kinds = [FaultKind(kind) for kind in weights]
        self._weights = [float(weight) for weight in weights.values()]
        if not self._kinds or min(self._weights) < 0 or sum(self._weights) <= 0:
            raise ValueError("kinds must name at least one fault kind with a positive weight")
        self.rate = rate
        self.seed = seed
        self.hold_s = hold_s
        self.retry_after_s = max(1, int(retry_after_s))
        self.token = token
        self.match = match.lower() if match else None
        self.limit = limit
        self.on_request = on_request
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._injected: list[InjectedFault] = []
        self._eligible = 0
        self._released = threading.Event()

    # -- what the dispatcher calls -------------------------------------------------------------
    def draw(self, method: str, path: str, *, token: bool = False) -> FaultKind | None:
        """The fault for this request, or None; recorded when drawn."""
        if token and not self.token:
            return None
        if self.match is not None and self.match not in f"{method} {path}".lower():
            return None
        if self.on_request is not None:
            self.on_request(method, path)
        with self._lock:
            self._eligible += 1
            # Both numbers are drawn for every request, so one request's outcome never shifts the next's.
            roll, pick = self._random.random(), self._random.choices(self._kinds, self._weights)[0]
            if roll >= self.rate or (self.limit is not None and len(self._injected) >= self.limit):
                return None
            self._injected.append(InjectedFault(pick, method, path))
            return pick

    def error(self, kind: FaultKind) -> ArmError | None:
        """The ARM error a ``throttle`` or ``error`` fault answers with."""
        if kind is FaultKind.THROTTLE:
            return ArmError(
                429,
                "TooManyRequests",
                "The request is being throttled (injected fault).",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        if kind is FaultKind.ERROR:
            return ArmError(500, "InternalServerError", "Encountered internal server error (injected fault).")
        return None

    def hold(self) -> None:
        """Hold a ``timeout`` request; `release()` (or the emulator stopping) ends every hold at once."""
        self._released.wait(self.hold_s)

    def release(self) -> None:
        self._released.set()

    # -- what tests read -----------------------------------------------------------------------
    @property
    def injected(self) -> list[InjectedFault]:
        with self._lock:
            return list(self._injected)

    @property
    def eligible(self) -> int:
        """How many requests were eligible (drawn for), faulted or not."""
        with self._lock:
            return self._eligible

    def counts(self) -> Counter[FaultKind]:
        return Counter(fault.kind for fault in self.injected)


class PostgresConnectionDropper:
    """Terminates the product's sessions on a real PostgreSQL server, as a superuser.

    Only backends whose ``application_name`` and login match are touched, so other users of the
    server (and other test runs) are left alone. Use it as ARM's `on_request` hook (``rate``: the
    chance per ARM request), from a background thread (`running`), or directly (`drop_now`).
    """

    def __init__(
        self,
        superuser_dsn: str,
        *,
        login: str,
        application_name: str = "passwordless-provisioner",
        rate: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.superuser_dsn = superuser_dsn
        self.login = login
        self.application_name = application_name
        self.rate = rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.attempts = 0
        self.terminated = 0  # server sessions actually ended

    def drop_now(self) -> int:
        """End every matching session now; returns how many there were."""
        import psycopg2

        conn = psycopg2.connect(self.superuser_dsn, connect_timeout=5, application_name="fault-injection")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = %s AND usename = %s AND pid <> pg_backend_pid()",
                    (self.application_name, self.login),
                )
                row = cur.fetchone()
        finally:
            conn.close()
        ended = int(row[0]) if row else 0
        with self._lock:
            self.attempts += 1
            self.terminated += ended
        return ended

    def __call__(self, method: str, path: str) -> None:
        """The `Faults.on_request` hook: with probability ``rate``, drop the sessions now."""
        with self._lock:
            fire = self._random.random() < self.rate
        if fire:
            self.drop_now()

    def running(self, *, mean_interval_s: float) -> _Background:
        """A context manager dropping sessions at random moments (exponential gaps) until it exits."""
        return _Background(self, mean_interval_s, self._random.random())


class _Background:
    def __init__(self, dropper: PostgresConnectionDropper, mean_interval_s: float, seed: float) -> None:
        self._dropper = dropper
        self._mean = mean_interval_s
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postgres-dropper", daemon=True)
        self.failures: list[BaseException] = []

    def _run(self) -> None:
        while not self._stop.wait(self._random.expovariate(1 / self._mean)):
            try:
                self._dropper.drop_now()
            except Exception as exc:  # reported to the test, never swallowed silently
                self.failures.append(exc)
                return

    def __enter__(self) -> _Background:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
