"""Long-running operations the way ARM runs them, so SDK pollers (`begin_*`) are exercised for real.

The write answers 202 with `Azure-AsyncOperation` and `Location` links. Each operation reports
`InProgress` on its first poll and `Succeeded` afterwards. The change itself is applied when the
write is accepted, so the estate is consistent for every client, polling or not. No `Retry-After`
is sent: it would override the short `polling_interval` tests pass to the SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from emulator.errors import ArmError
from emulator.estate import new_uuid
from emulator.server import ArmRequest, ArmResponse, Route, arm_route


@dataclass
class _Operation:
    started: str
    polls: int = 0
    result: dict[str, Any] | None = None  # what the operation-result link answers once done


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AsyncOperations:
    """The operations of one resource provider, with its status and result routes."""

    def __init__(self, provider: str, api_version: str) -> None:
        self._provider = provider
        self._api_version = api_version
        self._operations: dict[str, _Operation] = {}

    def routes(self) -> list[Route]:
        base = f"/subscriptions/{{subscription}}/providers/{self._provider}/locations/{{location}}"
        return [
            arm_route("GET", base + "/azureAsyncOperation/{operation}", self._api_version, self.status),
            arm_route("GET", base + "/operationResults/{operation}", self._api_version, self.result),
        ]

    def accepted(self, request: ArmRequest, location: str, *, result: dict[str, Any] | None = None) -> ArmResponse:
        """The 202 for a write just accepted in `request`'s subscription and `location`.

        `result` is the resource the `Location` link answers with once done, for APIs whose SDK
        reads the final state from there (`final-state-via: location`); without it the link answers 204.
        """
        operation_id = new_uuid()
        self._operations[operation_id] = _Operation(started=_now(), result=result)
        base = (
            f"{request.base_url}/subscriptions/{request.params['subscription']}"
            f"/providers/{self._provider}/locations/{location}"
        )
        query = urlencode({"api-version": self._api_version})
        return ArmResponse(
            202,
            headers={
                "Azure-AsyncOperation": f"{base}/azureAsyncOperation/{operation_id}?{query}",
                "Location": f"{base}/operationResults/{operation_id}?{query}",
            },
        )

    def status(self, request: ArmRequest) -> ArmResponse:
        operation_id = request.params["operation"]
        done = self._poll(operation_id)
        body = {
            "name": operation_id,
            "status": "Succeeded" if done else "InProgress",
            "startTime": self._operations[operation_id].started,
        }
        if done:
            body["endTime"] = _now()
        return ArmResponse(200, body)

    def result(self, request: ArmRequest) -> ArmResponse:
        operation_id = request.params["operation"]
        if self._poll(operation_id):
            body = self._operations[operation_id].result
            return ArmResponse(204) if body is None else ArmResponse(200, body)
        return ArmResponse(202, headers={"Location": request.base_url + request.target})

    def _poll(self, operation_id: str) -> bool:
        """Count a poll; True when the operation now reports done."""
        operation = self._operations.get(operation_id)
        if operation is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{operation_id}' was not found.")
        operation.polls += 1
        return operation.polls > 1
