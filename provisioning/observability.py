"""Logs that can be followed across one reconcile: a correlation id on every record, and
OpenTelemetry to Application Insights when its connection string is set."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_correlation: ContextVar[str] = ContextVar("correlation_id", default="-")
_configured = False


@contextmanager
def correlated(correlation_id: str) -> Iterator[None]:
    """Everything logged inside carries this id (an event id, or a request id)."""
    token = _correlation.set(correlation_id)
    try:
        yield
    finally:
        _correlation.reset(token)


def configure_logging() -> None:
    """Once per worker: every log record gets ``correlation_id`` (exported to Application Insights as a
    custom dimension), and Azure Monitor is switched on when its connection string is set."""
    global _configured  # noqa: PLW0603 - one-time process set-up
    if _configured:
        return
    _configured = True
    make_record = logging.getLogRecordFactory()

    def with_correlation(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.correlation_id = _correlation.get()
        return record

    logging.setLogRecordFactory(with_correlation)
    if os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(logger_name="provisioning")
