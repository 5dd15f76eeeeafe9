"""Real recorded ARM answers served over HTTPS, so the product's own adapters meet what Azure sent.

`recorded-arm/*.json` hold interactions recorded by the Azure CLI's test suites. The
replay server answers each request with the next recorded interaction of the same method and
path (case-insensitive; the query, and so the api-version, is ignored: the recordings' versions are
older than the pinned SDKs'), then keeps repeating the last one. Links back to Azure in answers
(`Location`) are rewritten to the replay server, as ARM's would point back at ARM. Every request
received is kept, body included, so a test can assert what the product sent.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from azure.core.credentials import AccessToken

from emulator.certificates import issue_certificates
from emulator.server import ArmResponse, HttpsServer

RECORDINGS = Path(__file__).parent / "recorded-arm"  # copied as is; its README says where each came from
AZURE = "https://management.azure.com"
_HOP_HEADERS = {"content-length", "content-type", "transfer-encoding", "connection"}


def recording(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDINGS / name).read_text())
    return loaded


def interactions(name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = recording(name)["interactions"]
    return found


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    body: Any


@dataclass
class ReplayDispatcher:
    """Answers (method, path) from a queue of recorded interactions."""

    base_url: str = ""
    queues: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, interaction: dict[str, Any], *, method: str | None = None, path: str | None = None) -> None:
        """Serve `interaction`'s answer to its own request, or to `method`/`path` when the product
        reaches the same resource another way (stated by the test that does so)."""
        request = interaction["request"]
        key = ((method or request["method"]).upper(), (path or request["path"]).lower())
        self.queues.setdefault(key, []).append(interaction)

    def dispatch(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> ArmResponse:
        split = urlsplit(target)
        path = unquote(split.path)
        body = json.loads(raw_body) if raw_body.strip() else None
        with self._lock:
            self.received.append(Received(method, path, split.query, body))
            queue = self.queues.get((method.upper(), path.lower()))
            if not queue:
                return ArmResponse(
                    599, {"error": {"code": "NotRecorded", "message": f"no recording for {method} {path}"}}
                )
            interaction = queue.pop(0) if len(queue) > 1 else queue[0]
        response = interaction["response"]
        answer_headers = {
            name: str(value).replace(AZURE, self.base_url)
            for name, value in response["headers"].items()
            if name.lower() not in _HOP_HEADERS
        }
        answer_body = response["body"] if response["body"] not in ("", None) else None
        return ArmResponse(response["status"], answer_body, answer_headers)

    def requests_to(self, method: str) -> list[Received]:
        return [r for r in self.received if r.method == method]


class StaticToken:
    """A bearer token for the replay server (which checks none)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("replay-token", 2**31)


@contextmanager
def replay_server(state_dir: Path) -> Iterator[ReplayDispatcher]:
    dispatcher = ReplayDispatcher()
    certificates = issue_certificates(state_dir)
    server = HttpsServer(dispatcher, cert_file=certificates.cert_file, key_file=certificates.key_file)  # type: ignore[arg-type]
    dispatcher.base_url = f"https://127.0.0.1:{server.port}"
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(certificates.ca_file)
    try:
        yield dispatcher
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = previous
