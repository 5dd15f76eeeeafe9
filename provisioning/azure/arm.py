"""Talking to ARM: client construction for any cloud, and error translation at the boundary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from provisioning.config import Config
from provisioning.errors import NotFound, PermanentError, TransientError

TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


CONNECTION_TIMEOUT_S = 10
READ_TIMEOUT_S = 30  # ARM answers in seconds; a hung request must not hold a reconcile for azure-core's 300 s


def client_options(config: Config) -> dict[str, Any]:
    """Keyword arguments every management client gets: the cloud's endpoint and token scope, and
    timeouts short enough that a hung request fails (and is retried) instead of stalling."""
    return {
        "base_url": config.arm_endpoint,
        "credential_scopes": [config.arm_scope],
        "connection_timeout": CONNECTION_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
    }


class ClientsBySubscription:
    """Management clients are per subscription; build each once, on first use, and reuse it."""

    def __init__(self, build: Callable[[str], Any]) -> None:
        self._build = build
        self._clients: dict[str, Any] = {}

    def get(self, subscription: str) -> Any:
        key = subscription.lower()
        if key not in self._clients:
            self._clients[key] = self._build(subscription)
        return self._clients[key]


@contextmanager
def azure_errors(action: str) -> Iterator[None]:
    """Translate azure-core errors (ARM's, and Storage's) into the core's tree, keeping the cause."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except ResourceNotFoundError as exc:
        raise NotFound(f"{action}: not found ({_code(exc)})") from exc
    except ClientAuthenticationError as exc:
        raise PermanentError(f"{action}: authentication failed ({_code(exc)})") from exc
    except HttpResponseError as exc:
        status = exc.status_code or 0
        if status in TRANSIENT_STATUS:
            raise TransientError(
                f"{action}: ARM answered {status} ({_code(exc)})", retry_after=_retry_after(exc)
            ) from exc
        if status == 403:
            raise PermanentError(f"{action}: the function's identity lacks the permission ({_code(exc)})") from exc
        raise PermanentError(f"{action}: ARM answered {status} ({_code(exc)})") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise TransientError(f"{action}: ARM could not be reached ({type(exc).__name__})") from exc


def _code(exc: Any) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if code:
        return f"{code}: {message}" if message else str(code)
    return type(exc).__name__


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
