"""HTTP plumbing: HTTPS serving, routing, bearer and api-version checks, ARM errors, request log.

Resource handlers see an `ArmRequest` and return an `ArmResponse` (or raise `ArmError`); this
module does everything ARM does around them. All handlers run under one lock (the estate's):
each is a few dictionary operations, and one lock keeps every write atomic as ARM's are.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import json
import logging
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from emulator.errors import ArmError, bad_request
from emulator.estate import new_uuid
from emulator.events import Actor
from emulator.faults import FaultKind, Faults
from emulator.throttling import TokenBuckets, retry_after_header

_log = logging.getLogger(__name__)

_KIND_BY_METHOD = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete", "POST": "action"}
_PARAMETER = re.compile(r"\{(\w+)(\*?)\}")


@dataclass(frozen=True)
class ArmRequest:
    method: str
    path: str  # decoded, without the query
    query: Mapping[str, str]  # parameter names lower-cased
    headers: Mapping[str, str]  # names lower-cased
    body: Any  # parsed JSON, None when empty
    params: Mapping[str, str]  # from the route template
    claims: Mapping[str, Any]  # the caller's token claims; empty on unauthenticated routes
    correlation_id: str
    base_url: str  # scheme and authority the client used, for links back to this server
    target: str  # path and query as sent

    @property
    def actor(self) -> Actor:
        return Actor(self.claims, self.correlation_id, self.method, self.base_url + self.target)

    def json_object(self) -> dict[str, Any]:
        """The body, which must be a JSON object (ARM's 400 otherwise)."""
        if not isinstance(self.body, dict):
            raise bad_request("The request content must be a JSON object.", code="InvalidRequestContent")
        return self.body


@dataclass
class ArmResponse:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False  # an injected fault: close the connection instead of answering
    content_type: str = "application/json; charset=utf-8"  # data planes answer bytes of other types


Handler = Callable[[ArmRequest], ArmResponse]


@dataclass(frozen=True)
class Route:
    """`template` segments `{name}` match one path segment, `{name*}` several (a scope)."""

    method: str
    template: str
    handler: Handler
    api_version: str | None = None  # checked when set
    kind: str | None = None  # how the request log files it; None: not logged
    authenticated: bool = True
    raw_body: bool = False  # a data plane: the handler gets the body as bytes and checks its own token
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts, last = [], 0
        for match in _PARAMETER.finditer(self.template):
            parts.append(re.escape(self.template[last : match.start()]))
            parts.append(f"(?P<{match.group(1)}>{'.+' if match.group(2) else '[^/]+'})")
            last = match.end()
        parts.append(re.escape(self.template[last:]))
        object.__setattr__(self, "pattern", re.compile("".join(parts), re.IGNORECASE))


def arm_route(method: str, template: str, api_version: str, handler: Handler) -> Route:
    """A route of the ARM API: bearer token required, api-version checked, logged by method."""
    return Route(method, template, handler, api_version=api_version, kind=_KIND_BY_METHOD[method])


def encode_skip_token(offset: int) -> str:
    """An opaque continuation token, as ARM's are: clients pass it back, never parse it."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode("ascii")


def decode_skip_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        prefix, _, offset = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii").partition(":")
        if prefix == "offset" and int(offset) >= 0:
            return int(offset)
    except ValueError:
        pass
    raise bad_request("The skip token is invalid.", code="InvalidSkipToken")


def paged(request: ArmRequest, items: list[Any], *, page_size: int) -> ArmResponse:
    """One page of an ARM list (`{"value", "nextLink"}`), the next link pointing back at this server."""
    offset = decode_skip_token(request.query.get("$skiptoken"))
    body: dict[str, Any] = {"value": items[offset : offset + page_size]}
    if offset + page_size < len(items):
        next_query = {
            "api-version": request.query.get("api-version", ""),
            "$skiptoken": encode_skip_token(offset + page_size),
        }
        body["nextLink"] = f"{request.base_url}{request.path}?{urlencode(next_query)}"
    return ArmResponse(200, body)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    api_version: str | None
    caller_object_id: str | None
    status: int
    kind: str  # read | write | delete | action | token
    body: Any = None  # the JSON request body, kept only while the log keeps bodies
    answer: Any = None  # the JSON answer, likewise
    answered_at: float = field(default_factory=time.monotonic)  # when the answer was ready


class RequestLog:
    """Every request served; with ``keep_bodies`` also copies of the JSON bodies both ways, for tests
    that hold them to the API specs (off by default: a long benchmark would hoard every answer)."""

    def __init__(self) -> None:
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self.keep_bodies = False

    def append(self, request: RecordedRequest, *, raw_body: bytes = b"", answer: Any = None) -> None:
        if self.keep_bodies:  # a copy of the answer: handlers may hand out live estate objects
            request = dataclasses.replace(request, body=_parse_quietly(raw_body), answer=copy.deepcopy(answer))
        with self._lock:
            self._requests.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()


class Dispatcher:
    """Turns one HTTP request into one `ArmResponse` the way ARM's front door would."""

    def __init__(
        self,
        routes: list[Route],
        *,
        authenticate: Callable[[str | None], dict[str, Any]],
        lock: threading.RLock,
        requests: RequestLog,
        latency_s: float = 0.0,
        throttle: TokenBuckets | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.throttle = throttle
        self.faults = faults
        self._requests = requests
        self._routes = routes
        self._authenticate = authenticate
        self._lock = lock
        self._latency_s = latency_s

    def dispatch(self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes) -> ArmResponse:
        split = urlsplit(target)
        path = re.sub("/{2,}", "/", unquote(split.path))
        query = {name.lower(): values[0] for name, values in parse_qs(split.query, keep_blank_values=True).items()}
        correlation_id = headers.get("x-ms-correlation-request-id") or new_uuid()
        route, params = self._match(method, path)
        claims: dict[str, Any] = {}
        rate_headers: dict[str, str] = {}
        try:
            if route is None or route.authenticated:
                claims = self._authenticate(headers.get("authorization"))
                if self._latency_s:
                    time.sleep(self._latency_s)
            if route is None:
                raise ArmError(404, "NotFound", f"The emulator serves no {method} {path}.")
            if self.throttle is not None and route.api_version is not None:  # ARM's own routes only
                charge = self.throttle.charge(str(claims.get("oid")), method, path)
                if charge.wait_s is not None:
                    raise ArmError(
                        429,
                        "TooManyRequests",
                        "The request is being throttled.",
                        headers={"Retry-After": retry_after_header(charge.wait_s), **charge.headers},
                    )
                rate_headers = charge.headers
            fault = self._draw_fault(route, method, path)
            _check_api_version(route, query.get("api-version"))
            request = ArmRequest(
                method=method,
                path=path,
                query=query,
                headers=headers,
                body=raw_body if route.raw_body else _parse_json(raw_body),
                params=params,
                claims=claims,
                correlation_id=correlation_id,
                base_url=f"https://{headers.get('host', 'localhost')}",
                target=target,
            )
            if fault is FaultKind.TIMEOUT:
                response = ArmResponse(0, drop_connection=True)  # held, then no answer: never served
            else:
                with self._lock:
                    response = route.handler(request)
                response.drop_connection = fault is FaultKind.LOST  # served, but the answer is lost
        except ArmError as error:
            response = ArmResponse(error.status, error.body(), dict(error.headers))
            if error.status == 401:
                response.headers["WWW-Authenticate"] = (
                    'Bearer authorization_uri="https://login.microsoftonline.com/", error="invalid_token"'
                )
        except Exception:
            _log.exception("unhandled error serving %s %s", method, path)
            response = ArmResponse(500, ArmError(500, "InternalServerError", "The emulator failed.").body())
        for name, value in rate_headers.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("x-ms-request-id", new_uuid())
        response.headers.setdefault("x-ms-correlation-request-id", correlation_id)
        kind = route.kind if route is not None else _KIND_BY_METHOD.get(method)
        if kind is not None:
            self._requests.append(
                RecordedRequest(method, path, query.get("api-version"), claims.get("oid"), response.status, kind),
                raw_body=b"" if route is not None and route.raw_body else raw_body,
                answer=None if isinstance(response.body, bytes) else response.body,
            )
        return response

    def _draw_fault(self, route: Route, method: str, path: str) -> FaultKind | None:
        """An injected fault for ARM's own routes (the token endpoint only when asked); 429 and 500
        are raised here, a timeout is held here and answered by closing the connection."""
        faults = self.faults
        if faults is None or (route.api_version is None and route.kind != "token"):
            return None
        fault = faults.draw(method, path, token=route.api_version is None)
        if fault is None:
            return None
        error = faults.error(fault)
        if error is not None:
            raise error
        if fault is FaultKind.TIMEOUT:
            faults.hold()
        return fault

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method == method and (match := route.pattern.fullmatch(path)):
                return route, match.groupdict()
        return None, {}


def _check_api_version(route: Route, api_version: str | None) -> None:
    if route.api_version is None or api_version == route.api_version:
        return
    if api_version is None:
        raise bad_request(
            "The api-version query parameter (?api-version=) is required for all requests.",
            code="MissingApiVersionParameter",
        )
    raise bad_request(
        f"The api-version '{api_version}' is invalid. The supported versions are '{route.api_version}'.",
        code="InvalidApiVersionParameter",
    )


def _parse_quietly(raw_body: bytes) -> Any:
    """The request body for the log: JSON when it parses, else None (its 400 is in the log already)."""
    try:
        return _parse_json(raw_body)
    except ArmError:
        return None


def _parse_json(raw_body: bytes) -> Any:
    if not raw_body.strip():
        return None
    try:
        return json.loads(raw_body)
    except (ValueError, UnicodeDecodeError) as error:
        raise bad_request(f"The request content is not valid JSON: {error}", code="InvalidRequestContent") from error


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    timeout = 60  # drop idle keep-alive connections eventually
    server: _HttpsServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.dispatcher.dispatch(self.command, self.path, headers, raw_body)
        if response.drop_connection:  # an injected fault: the client gets no answer at all
            self.close_connection = True
            return
        if isinstance(response.body, bytes):
            body = response.body
        else:
            body = b"" if response.body is None else json.dumps(response.body).encode("utf-8")
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _serve  # noqa: N815 - the names http.server dispatches to

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)


class _HttpsServer(ThreadingHTTPServer):
    """One thread per connection, TLS handshake in that thread, every connection closed on stop."""

    daemon_threads = False  # stop() joins them: no thread outlives the emulator
    block_on_close = True

    def __init__(self, port: int, context: ssl.SSLContext, dispatcher: Dispatcher) -> None:
        super().__init__(("127.0.0.1", port), _RequestHandler)
        self.context = context
        self.dispatcher = dispatcher
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._closing = False

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = self.socket.accept()
        # Headers and body go out as separate writes; without this, Nagle's algorithm holds the
        # body until the client's delayed ACK (~40 ms a request).
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            if self._closing:
                return
            self._open.add(request)
        try:
            request.do_handshake()
            super().finish_request(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        """Wake every thread blocked on an idle keep-alive connection so it can finish."""
        with self._open_lock:
            self._closing = True
            for connection in self._open:
                with contextlib.suppress(OSError):  # already closed by the client
                    connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients drop connections and reject handshakes routinely (socket errors, SSL errors are
        # OSErrors); anything else escaped the dispatcher and is a bug worth a traceback.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class HttpsServer:
    """The listening server, serving from a background thread until `stop()`."""

    def __init__(self, dispatcher: Dispatcher, *, cert_file: Path, key_file: Path, port: int = 0) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._server = _HttpsServer(port, context, dispatcher)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator-https", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()  # joins the connection threads
        self._thread.join()
