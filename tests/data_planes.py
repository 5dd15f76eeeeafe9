"""Calls an app makes to the emulator's data planes with its own token, as App Service gives it one:
the identity endpoint and the app's header, and a user-assigned identity chosen by its client id."""

from __future__ import annotations

from typing import Any

import requests

STORAGE_AUDIENCE, VAULT_AUDIENCE, BUS_AUDIENCE = (
    "https://storage.azure.com/",
    "https://vault.azure.net",
    "https://servicebus.azure.net",
)


def call(
    emulator: Any,
    app: str,
    audience: str,
    method: str,
    path: str,
    data: bytes | None = None,
    *,
    client_id: str | None = None,
) -> int:
    """The status the data plane answers; ``client_id``: a user-assigned identity of the app (else its
    system identity)."""
    environment = emulator.app_identity_environment(app)
    token = requests.get(
        environment["IDENTITY_ENDPOINT"],
        params={"api-version": "2019-08-01", "resource": audience, **({"client_id": client_id} if client_id else {})},
        headers={"X-IDENTITY-HEADER": environment["IDENTITY_HEADER"]},
        verify=emulator.ca_bundle,
        timeout=10,
    ).json()["access_token"]
    answer = requests.request(
        method,
        emulator.arm_endpoint + path,
        data=data,
        headers={"Authorization": f"Bearer {token}"},
        verify=emulator.ca_bundle,
        timeout=10,
    )
    return answer.status_code
