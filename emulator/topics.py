"""An Event Grid custom topic: the product publishes its outcome events here (Event Grid schema).

`POST /topics/{topic}/api/events?api-version=2018-01-01` with an Entra token for Event Grid, as a
topic's endpoint takes them; published events are kept for tests and the demo to read.
"""

from __future__ import annotations

import threading
from typing import Any

from emulator.errors import ArmError, bad_request
from emulator.server import ArmRequest, ArmResponse, Route
from emulator.tokens import TokenIssuer

API_VERSION = "2018-01-01"
EVENTGRID_AUDIENCES = ("https://eventgrid.azure.net",)
REQUIRED = ("id", "subject", "eventType", "eventTime", "data", "dataVersion")


class TopicsApi:
    def __init__(self, issuer: TokenIssuer) -> None:
        self._issuer = issuer
        self._lock = threading.Lock()
        self._published: list[dict[str, Any]] = []

    @property
    def published(self) -> list[dict[str, Any]]:
        """Every event published so far, each with the topic it went to (a copy)."""
        with self._lock:
            return [dict(event) for event in self._published]

    def routes(self) -> list[Route]:
        return [Route("POST", "/topics/{topic}/api/events", self.publish, kind="action", authenticated=False)]

    def publish(self, request: ArmRequest) -> ArmResponse:
        self._issuer.verify(request.headers.get("authorization"), audiences=EVENTGRID_AUDIENCES)
        if request.query.get("api-version") != API_VERSION:
            raise bad_request(f"api-version must be {API_VERSION}.", code="InvalidApiVersionParameter")
        events = request.body
        if not isinstance(events, list) or not events:
            raise bad_request("The body must be a non-empty array of events.", code="InvalidRequestBody")
        for event in events:
            missing = [name for name in REQUIRED if not isinstance(event, dict) or name not in event]
            if missing:
                raise ArmError(400, "InvalidRequestBody", f"An event lacks required field(s) {missing}.")
        with self._lock:
            self._published += [dict(event, topic=request.params["topic"]) for event in events]
        return ArmResponse(200, None)
