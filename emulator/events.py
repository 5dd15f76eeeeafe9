"""Event Grid events for resource changes, shaped like the Microsoft.Resources system topic's.

Azure emits `ResourceWriteSuccess` / `ResourceDeleteSuccess` for every successful ARM write,
naming the resource and the caller (claims) but not the new state; the emulator does the same so
the product's Event Grid handler can be driven exactly as in Azure.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emulator.estate import group_id, new_uuid, scope_of

WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"

_OBJECT_ID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_TENANT_ID_CLAIM = "http://schemas.microsoft.com/identity/claims/tenantid"
_NAME_ID_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"


@dataclass(frozen=True)
class Actor:
    """Who made a change, and through which call: what an event's claims and httpRequest carry."""

    claims: Mapping[str, Any]  # the caller's access-token claims
    correlation_id: str
    method: str
    url: str


def event_claims(token_claims: Mapping[str, Any]) -> dict[str, str]:
    """Token claims as ARM events spell them (object and tenant ids under their long claim URIs)."""
    claims = {
        "aud": token_claims["aud"],
        "iss": token_claims["iss"],
        "iat": token_claims["iat"],
        "nbf": token_claims["nbf"],
        "exp": token_claims["exp"],
        "appid": token_claims["appid"],
        "appidacr": "2",
        _OBJECT_ID_CLAIM: token_claims["oid"],
        _TENANT_ID_CLAIM: token_claims["tid"],
        _NAME_ID_CLAIM: token_claims["sub"],
        "uti": token_claims["uti"],
        "ver": "1.0",
    }
    if token_claims.get("name"):
        claims["name"] = token_claims["name"]
    return {name: str(value) for name, value in claims.items()}


def resource_event(*, resource_uri: str, operation_name: str, actor: Actor, tenant_id: str) -> dict[str, Any]:
    """One Event Grid-schema event for a successful write or delete (`operation_name` ends in `/delete`)."""
    subscription_id, resource_group = scope_of(resource_uri)
    deleted = operation_name.endswith("/delete")
    data: dict[str, Any] = {
        "authorization": {"scope": resource_uri, "action": operation_name, "evidence": {"role": "Contributor"}},
        "claims": event_claims(actor.claims),
        "correlationId": actor.correlation_id,
        "resourceProvider": operation_name.split("/", 1)[0],
        "resourceUri": resource_uri,
        "operationName": operation_name,
        "status": "Succeeded",
        "subscriptionId": subscription_id,
        "tenantId": tenant_id,
    }
    if deleted:  # Azure's delete events carry the request; its write events often do not.
        data["httpRequest"] = {
            "clientRequestId": new_uuid(),
            "clientIpAddress": "127.0.0.1",
            "method": actor.method,
            "url": actor.url,
        }
    return {
        "subject": resource_uri,
        "eventType": DELETE_SUCCESS if deleted else WRITE_SUCCESS,
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "id": new_uuid(),
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
        "topic": group_id(subscription_id, resource_group) if resource_group else f"/subscriptions/{subscription_id}",
    }


def to_cloud_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema, as a topic configured for it delivers it."""
    return {
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "id": event["id"],
        "data": copy.deepcopy(event["data"]),
        "specversion": "1.0",
    }


class EventLog:
    """The events emitted so far, in order; safe to read while requests are being served."""

    def __init__(self, tenant_id: str) -> None:
        self._tenant_id = tenant_id
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def emit(self, actor: Actor, resource_uri: str, operation_name: str) -> None:
        event = resource_event(
            resource_uri=resource_uri, operation_name=operation_name, actor=actor, tenant_id=self._tenant_id
        )
        with self._lock:
            self._events.append(event)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
