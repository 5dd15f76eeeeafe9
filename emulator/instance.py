"""A running emulator: what tests and the demo start, point the product at, inspect and stop."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from emulator.authorization import AuthorizationApi
from emulator.certificates import issue_certificates
from emulator.control import ControlSurface
from emulator.dataplanes import DataPlanesApi
from emulator.estate import Estate, Principal, load_estate
from emulator.events import EventLog
from emulator.faults import Faults
from emulator.graph import ResourceGraphApi
from emulator.identities import IdentitiesApi
from emulator.mysql import MysqlApi
from emulator.postgres import PostgresApi
from emulator.server import Dispatcher, HttpsServer, RequestLog
from emulator.sites import SitesApi
from emulator.sql_servers import SqlServersApi
from emulator.throttling import TokenBuckets
from emulator.tokens import TOKEN_PATH, IdentityEndpoint, TokenIssuer
from emulator.topics import TopicsApi


class Emulator(ControlSurface):
    """The ARM endpoint, the managed-identity endpoint and the control surface of one estate."""

    def __init__(
        self,
        estate: Estate,
        *,
        state_dir: Path,
        port: int = 0,
        latency_s: float = 0.0,
        throttle: TokenBuckets | None = None,
        faults: Faults | None = None,
    ) -> None:
        issuer = TokenIssuer(estate.tenant_id)
        events = EventLog(estate.tenant_id)
        requests = RequestLog()
        super().__init__(estate, events, issuer, requests)
        self._topics = TopicsApi(issuer)
        self.throttle = throttle
        self._graph = ResourceGraphApi(estate)
        routes = [
            *SitesApi(estate, events).routes(),
            *IdentitiesApi(estate, events).routes(),
            *PostgresApi(estate, events).routes(),
            *MysqlApi(estate, events).routes(),
            *SqlServersApi(estate, events).routes(),
            *self._graph.routes(),
            *AuthorizationApi(estate, events).routes(),
            *DataPlanesApi(estate, issuer).routes(),
            *IdentityEndpoint(estate, issuer).routes(),
            *self._topics.routes(),
            *self.control_routes(),
        ]
        self._dispatcher = dispatcher = Dispatcher(
            routes,
            authenticate=issuer.verify,
            lock=estate.lock,
            requests=requests,
            latency_s=latency_s,
            throttle=throttle,
            faults=faults,
        )
        certificates = issue_certificates(state_dir)
        self._server = HttpsServer(
            dispatcher, cert_file=certificates.cert_file, key_file=certificates.key_file, port=port
        )
        self.arm_endpoint = f"https://127.0.0.1:{self._server.port}"
        self.ca_bundle = str(certificates.ca_file)
        self.identity_endpoint = self.arm_endpoint + TOKEN_PATH
        self.identity_header = issuer.identity_header
        self.tenant_id = estate.tenant_id
        self.function_identity: Principal = estate.function_identity

    @classmethod
    def start(
        cls,
        estate: Mapping[str, Any] | str | os.PathLike[str],
        *,
        state_dir: Path | str,
        port: int = 0,
        latency_s: float = 0.0,
        throttle: bool = True,
        faults: Faults | None = None,
    ) -> Emulator:
        """Serve `estate` (a dict or an estate file) from a background thread.

        `state_dir` receives the CA and server certificate; `latency_s` delays every ARM call;
        `throttle` applies ARM's token buckets (on by default, as in Azure); `faults` injects ARM
        faults (see `emulator.faults`; none by default).
        """
        buckets = TokenBuckets() if throttle else None
        return cls(
            load_estate(estate),
            state_dir=Path(state_dir),
            port=port,
            latency_s=latency_s,
            throttle=buckets,
            faults=faults,
        )

    def set_throttle(self, buckets: TokenBuckets | None) -> None:
        """Switch ARM throttling (fresh buckets) on or off, e.g. to seed an estate quickly first."""
        self.throttle = buckets
        self._dispatcher.throttle = buckets

    def set_graph_quota(self, queries_per_window: int) -> int:
        """Resource Graph's per-caller quota (15 per 5 s, as Azure's); returns the one it replaces."""
        previous, self._graph.quota = self._graph.quota, queries_per_window
        return previous

    @property
    def faults(self) -> Faults | None:
        """The fault injection in force (its `injected` list records what was injected), or None."""
        return self._dispatcher.faults

    def set_faults(self, faults: Faults | None) -> None:
        """Start injecting ARM faults, or stop (None); requests held by the previous ones are let go."""
        previous, self._dispatcher.faults = self._dispatcher.faults, faults
        if previous is not None and previous is not faults:
            previous.release()

    @property
    def published_events(self) -> list[dict[str, Any]]:
        """Events the product published to the emulated outcome topic."""
        return self._topics.published

    def topic_endpoint(self, topic: str = "outcomes") -> str:
        """What ``PASSWORDLESS_OUTCOME_TOPIC_ENDPOINT`` would be for an Event Grid custom topic."""
        return f"{self.arm_endpoint}/topics/{topic}/api/events"

    def environment(self) -> dict[str, str]:
        """The settings that point the product (and azure-identity) at this emulator."""
        return {
            "PASSWORDLESS_ARM_ENDPOINT": self.arm_endpoint,
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
        }

    def stop(self) -> None:
        """Stop serving and close every connection; returns when no emulator thread is left."""
        if self._dispatcher.faults is not None:
            self._dispatcher.faults.release()  # a held request must not keep a thread alive
        self._server.stop()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
