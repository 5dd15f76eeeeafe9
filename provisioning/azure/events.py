"""Which app an ARM event is about, or why it is ignored. Both Event Grid and CloudEvents shapes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from provisioning.errors import InvalidRequest
from provisioning.resource_ids import AppRef, parse_app_id

WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"
OBJECT_ID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
TAGS_SUFFIX = "/providers/microsoft.resources/tags/default"


@dataclass(frozen=True)
class SiteEvent:
    """An event reduced to what a level-based handler needs: the app, and whether it was deleted."""

    event_id: str
    app: AppRef
    deleted: bool
    event_time: datetime | None = None


@dataclass(frozen=True)
class Ignored:
    event_id: str
    reason: str


def interpret(event: Mapping[str, Any], *, own_object_id: str, subscriptions: tuple[str, ...]) -> SiteEvent | Ignored:
    """Reduce one event; raise ``InvalidRequest`` only when it is not an ARM event at all."""
    event_type = event.get("eventType") or event.get("type")
    event_id = str(event.get("id") or "")
    data = event.get("data")
    if not isinstance(event_type, str) or not isinstance(data, Mapping):
        raise InvalidRequest("event: 'eventType' (or 'type') and 'data' are required", field="event")
    if event_type not in (WRITE, DELETE):
        return Ignored(event_id, f"event type {event_type} is not a resource write or delete")
    uri = data.get("resourceUri") or event.get("subject")
    if not isinstance(uri, str):
        raise InvalidRequest("event: 'data.resourceUri' is required", field="event.data.resourceUri")
    raw_claims = data.get("claims")
    claims: Mapping[str, Any] = raw_claims if isinstance(raw_claims, Mapping) else {}
    caller = str(claims.get(OBJECT_ID_CLAIM) or claims.get("oid") or "").lower()
    if own_object_id and caller == own_object_id.lower():
        return Ignored(event_id, "caused by this function's own identity")
    resource = uri[: -len(TAGS_SUFFIX)] if uri.lower().endswith(TAGS_SUFFIX) else uri
    try:
        app = parse_app_id(_site_or_slot(resource), field="event.data.resourceUri")
    except InvalidRequest:
        return Ignored(event_id, "resource is not a web app or slot")
    # The allow-list judges the app acted on, whatever else the payload claims.
    if subscriptions and app.subscription.lower() not in subscriptions:
        return Ignored(event_id, f"subscription {app.subscription.lower()} is not in the allow-list")
    deleted = event_type == DELETE and _site_or_slot(resource).lower() == resource.lower()
    return SiteEvent(event_id, app, deleted, _event_time(event.get("eventTime") or event.get("time")))


def _event_time(value: Any) -> datetime | None:
    """Event Grid sends up to seven fractional digits; Python reads six."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _site_or_slot(resource: str) -> str:
    """Trim child resources (``/config/appsettings`` ...) down to the site or slot they belong to."""
    parts = resource.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if len(parts) >= 8 and lowered[4] == "providers" and lowered[5] == "microsoft.web" and lowered[6] == "sites":
        keep = 10 if len(parts) >= 10 and lowered[8] == "slots" else 8
        return "/" + "/".join(parts[:keep])
    return resource
