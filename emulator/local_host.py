"""A local host for the function app, for anyone without Azure Functions Core Tools: it serves the
indexed functions over real HTTP, as `func start` would, so `curl` works.

- `/api/<route>` runs the HTTP-triggered functions (keys are not checked locally, as with Core Tools);
- `POST /runtime/webhooks/eventgrid?functionName=NAME` runs an Event Grid-triggered function with the
  events in the body: the same local webhook Core Tools offers, which the event feeder posts to;
- blob inputs are read from the function's storage (Azurite), and queue outputs are delivered to the
  queue-triggered function of that queue in a background thread.

It reads `local.settings.json` like Core Tools. It is a stand-in for the Functions host, not part of
the product: the functions it calls are the product's, unchanged.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


def load_settings(path: Path) -> dict[str, str]:
    """The `Values` of a local.settings.json, set in this process's environment (as Core Tools does)."""
    values = {str(k): str(v) for k, v in json.loads(path.read_text(encoding="utf-8"))["Values"].items()}
    os.environ.update(values)
    return values


class Out:
    """What an output binding receives (`func.Out`)."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


class LocalHost:
    def __init__(self, *, port: int = 7071, host: str = "127.0.0.1") -> None:
        import function_app

        self.functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
        self.routes: list[tuple[str, re.Pattern[str], Any]] = []
        for function in self.functions.values():
            trigger = self._binding(function, "httpTrigger")
            if trigger is not None:
                methods = [str(getattr(m, "value", m)) for m in trigger.get("methods", ["GET", "POST"])]
                pattern = re.compile("^/api/" + re.escape(trigger["route"]) + "$")
                self.routes += [(method.upper(), pattern, function) for method in methods]
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.handle(self, "GET")

            def do_POST(self) -> None:
                owner.handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="local-host", daemon=True)

    def start(self) -> LocalHost:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _binding(function: Any, kind: str) -> dict[str, Any] | None:
        for binding in function.get_bindings():
            if binding.type == kind:
                return dict(binding.get_dict_repr())
        return None

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(request.path)
        body = request.rfile.read(int(request.headers.get("content-length") or 0))
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/runtime/webhooks/eventgrid" and method == "POST":
                status, headers, content = self._eventgrid(query.get("functionName", ""), body)
            else:
                function = next((f for m, p, f in self.routes if m == method and p.match(url.path)), None)
                if function is None:
                    status, headers, content = 404, {"content-type": "text/plain"}, b"no function serves this route\n"
                else:
                    status, headers, content = self._http(function, method, request, url.path, query=query, body=body)
        except Exception as exc:  # the host answers 500 as the Functions host does, and says why
            status, headers, content = 500, {"content-type": "text/plain"}, f"{type(exc).__name__}: {exc}\n".encode()
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("content-length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)

    def _http(
        self, function: Any, method: str, request: Any, path: str, *, query: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        import azure.functions as func

        arguments: dict[str, Any] = {}
        outputs: dict[str, tuple[str, Out]] = {}
        for binding in function.get_bindings():
            details = binding.get_dict_repr()
            if binding.type == "httpTrigger":
                arguments[binding.name] = func.HttpRequest(
                    method, f"http://localhost{path}", headers=dict(request.headers), params=query, body=body
                )
            elif binding.type == "blob" and binding.direction == 0:
                arguments[binding.name] = self._read_blob(details["path"])
            elif binding.type == "queue" and binding.direction == 1:
                out = Out()
                arguments[binding.name] = out
                outputs[binding.name] = (details["queueName"], out)
        response = function.get_user_function()(**arguments)
        for queue, out in outputs.values():
            if out.get() is not None:
                self._deliver(queue, out.get())
        headers = {"content-type": response.mimetype + (f"; charset={response.charset}" if response.charset else "")}
        headers |= dict(response.headers)
        return response.status_code, headers, response.get_body()

    def _eventgrid(self, name: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        import azure.functions as func

        function = self.functions.get(name)
        if function is None or self._binding(function, "eventGridTrigger") is None:
            return 404, {"content-type": "text/plain"}, f"no Event Grid function named {name!r}\n".encode()
        events = json.loads(body or b"[]")
        for event in events if isinstance(events, list) else [events]:
            function.get_user_function()(
                func.EventGridEvent(
                    id=event["id"],
                    data=event["data"],
                    topic=event.get("topic", ""),
                    subject=event["subject"],
                    event_type=event["eventType"],
                    event_time=datetime.fromisoformat(event["eventTime"])
                    if "eventTime" in event
                    else datetime.now(UTC),
                    data_version=event.get("dataVersion", ""),
                )
            )
        return 202, {"content-type": "text/plain"}, b""

    def _deliver(self, queue: str, messages: Any) -> None:
        """Queue messages go to the function triggered by that queue, off the request's thread."""
        import azure.functions as func

        function = next(
            (f for f in self.functions.values() if (self._binding(f, "queueTrigger") or {}).get("queueName") == queue),
            None,
        )
        if function is None:
            return

        def run() -> None:
            for text in messages if isinstance(messages, list) else [messages]:
                arguments: dict[str, Any] = {}
                outputs: dict[str, tuple[str, Out]] = {}
                for binding in function.get_bindings():
                    if binding.type == "queueTrigger":
                        arguments[binding.name] = func.QueueMessage(id=uuid.uuid4().hex, body=str(text).encode())
                    elif binding.type == "queue" and binding.direction == 1:
                        out = Out()
                        arguments[binding.name] = out
                        outputs[binding.name] = (binding.get_dict_repr()["queueName"], out)
                function.get_user_function()(**arguments)
                for next_queue, out in outputs.values():
                    if out.get() is not None:
                        self._deliver(next_queue, out.get())

        threading.Thread(target=run, name=f"queue-{queue}", daemon=True).start()

    @staticmethod
    def _read_blob(path: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob import BlobServiceClient

        container, _, name = path.partition("/")
        service = BlobServiceClient.from_connection_string(os.environ["AzureWebJobsStorage"])  # noqa: SIM112 - the host's name
        try:
            return str(service.get_blob_client(container, name).download_blob().readall().decode())
        except ResourceNotFoundError:
            return None
