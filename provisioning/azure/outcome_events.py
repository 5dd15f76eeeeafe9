"""Outcome events on an Event Grid custom topic, for whoever subscribes (chat-ops, ticketing, SIEM)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from provisioning.config import Config
from provisioning.resource_ids import AppRef

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

log = logging.getLogger(__name__)
DATA_VERSION = "1.0"


class OutcomeEvents:
    """Publishes with the function's identity (the topic's "EventGrid Data Sender" role), never a key."""

    def __init__(self, credential: TokenCredential, config: Config) -> None:
        self._credential = credential
        self._endpoint = config.outcome_topic_endpoint
        self._client: Any = None

    def publish(self, event_type: str, app: AppRef, data: dict[str, Any]) -> None:
        """Send one event whose subject is the app's id. A failed notification is logged, never fatal:
        the change it reports has already happened and is kept in the run record."""
        self._send(event_type, app.id, data)

    def publish_rejected(self, event_type: str, event_id: str, data: dict[str, Any]) -> None:
        """A malformed incoming event names no app: the subject names the event instead."""
        self._send(event_type, f"events/{event_id or 'unknown'}", data)

    def _send(self, event_type: str, subject: str, data: dict[str, Any]) -> None:
        if not self._endpoint:
            return
        from azure.core.exceptions import AzureError
        from azure.eventgrid import EventGridEvent, EventGridPublisherClient

        if self._client is None:
            self._client = EventGridPublisherClient(self._endpoint, self._credential)
        event = EventGridEvent(subject=subject, event_type=event_type, data=data, data_version=DATA_VERSION)
        try:
            self._client.send([event])
        except AzureError as exc:
            log.warning("outcome event %s for %s was not published: %s", event_type, subject, type(exc).__name__)
