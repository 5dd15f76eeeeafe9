"""Talking to ARM: client construction for any cloud, and error translation at the boundary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from provisioning.azure.pacing import ArmPacing, PacingPolicy
from provisioning.config import Config
from provisioning.errors import NotFound, PermanentError, TransientError

TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


CONNECTION_TIMEOUT_S = 10
READ_TIMEOUT_S = 30  # ARM answers in seconds; a hung request must not hold a reconcile for azure-core's 300 s


# One mirror of ARM's buckets per worker process, shared by every client: ARM's buckets are per
# subscription and principal, and every client of this process is the same principal.
PACING = ArmPacing()


def client_options(config: Config) -> dict[str, Any]:
    """Keyword arguments every management client gets: the cloud's endpoint and token scope,
    timeouts short enough that a hung request fails (and is retried) instead of stalling, pacing
    from ARM's rate-limit headers, and a retry policy that also retries App Service's own 429."""
    return {
        "base_url": config.arm_endpoint,
        "credential_scopes": [config.arm_scope],
        "connection_timeout": CONNECTION_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
        "retry_policy": _refused_requests_retry()(),
        "per_retry_policies": [PacingPolicy(PACING)],  # each client its own policy (a pipeline links it)
    }


@cache
def _refused_requests_retry() -> type[Any]:
    """azure-core's retry policy, also retrying a 429 of any method.

    azure-core retries PATCH and POST only on 500/503/504, and a 429 only when it carries
    ``Retry-After``. App Service answers concurrent writes to one site with its own 429 and no
    ``Retry-After`` ("Cannot acquire exclusive lock ... Retry the request later", ExtendedCode 59206,
    recorded in ``error_429_site_lock.json``). A 429 means the request was refused, not carried out,
    so sending it again is safe whatever the method; backoff is azure-core's exponential one.
    """
    from azure.core.pipeline.policies import RetryPolicy

    class RefusedRequestsRetry(RetryPolicy[Any, Any]):
        def _is_method_retryable(self, settings: Any, request: Any, response: Any = None) -> bool:
            if response is not None and response.status_code == 429:
                return True
            return bool(super()._is_method_retryable(settings, request, response=response))

    return RefusedRequestsRetry


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
def azure_errors(action: str, *, service: str = "ARM") -> Iterator[None]:
    """Translate azure-core errors (ARM's, and Storage's) into the core's tree, keeping the cause;
    ``service`` names who answered, so an operator looks in the right place."""
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
                f"{action}: {service} answered {status} ({_code(exc)})", retry_after=_retry_after(exc)
            ) from exc
        if status == 403:
            raise PermanentError(
                f"{action}: {service} refused: the function's identity lacks the permission ({_code(exc)})"
            ) from exc
        raise PermanentError(f"{action}: {service} answered {status} ({_code(exc)})") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise TransientError(f"{action}: {service} could not be reached ({type(exc).__name__})") from exc


def _code(exc: Any) -> str:
    """ARM's error code and message, with the codes of its details: Resource Graph says what is wrong
    with a query only there (``BadRequest`` + details ``InvalidQuery``, ``ParserFailure``; recorded in
    ``graph_query_error.json``)."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if not code:
        return type(exc).__name__
    details = [str(d.code) for d in (getattr(error, "details", None) or []) if getattr(d, "code", None)]
    text = f"{code}: {message}" if message else str(code)
    return f"{text} [{', '.join(details)}]" if details else text


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
