"""Turn a site's tags or an HTTP body into an AppRequest; errors name the tag or field and position."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from provisioning.errors import Conflict, InvalidRequest
from provisioning.models import (
    AppRequest,
    ClientType,
    ConnectionRequest,
    IdentityKind,
    IdentitySpec,
    SiteState,
    SkippedEntry,
)
from provisioning.resource_ids import AppRef, parse_app_id, parse_resource_id

DEFAULT_TAG_PREFIX = "passwordless"
REQUEST_SETTING = "PASSWORDLESS_REQUEST"  # where a pipeline's request is kept on an untagged app
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
IDENTITY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$")


def find_tag(tags: Mapping[str, str], key: str) -> str | None:
    """ARM tag keys are case-insensitive: look one up that way."""
    wanted = key.lower()
    for name, value in tags.items():
        if name.lower() == wanted:
            return value
    return None


def is_requested(tags: Mapping[str, str], *, prefix: str = DEFAULT_TAG_PREFIX) -> bool:
    return find_tag(tags, prefix) is not None


def request_from_tags(app: AppRef, tags: Mapping[str, str], *, prefix: str = DEFAULT_TAG_PREFIX) -> AppRequest:
    """Parse the ``<prefix>``, ``<prefix>-identity`` and ``<prefix>-client`` tags of one app."""
    value = find_tag(tags, prefix)
    if value is None:
        raise InvalidRequest(f"tag {prefix!r} is missing", field=f"tags.{prefix}")
    connections, skipped = parse_entries(value, field=f"tags.{prefix}")
    return AppRequest(
        app=app,
        connections=connections,
        skipped=skipped,
        identity=parse_identity(find_tag(tags, f"{prefix}-identity"), field=f"tags.{prefix}-identity"),
        client=parse_client(find_tag(tags, f"{prefix}-client"), field=f"tags.{prefix}-client"),
    )


def request_from_body(body: Any) -> AppRequest:
    """Parse ``{"app": id, "connections": ["t:r"] | "t:r; ..", "identity": .., "client": ..}``."""
    if not isinstance(body, dict):
        raise InvalidRequest("body: a JSON object is required", field="body")
    unknown = set(body) - {"app", "connections", "identity", "client"}
    if unknown:
        raise InvalidRequest(f"body: unknown field(s) {sorted(unknown)}", field="body")
    app_id = body.get("app")
    if not isinstance(app_id, str):
        raise InvalidRequest("app: a site or slot resource id string is required", field="app")
    app = parse_app_id(app_id, field="app")
    raw = body.get("connections")
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw) and raw:
        text = "; ".join(raw)
    elif isinstance(raw, str):
        text = raw
    else:
        raise InvalidRequest(
            "connections: a 'target:role' string or a non-empty list of them is required", field="connections"
        )
    identity = body.get("identity")
    client = body.get("client")
    if identity is not None and not isinstance(identity, str):
        raise InvalidRequest("identity: a string is required", field="identity")
    if client is not None and not isinstance(client, str):
        raise InvalidRequest("client: a string is required", field="client")
    return AppRequest(
        app=app,
        connections=parse_connections(text, field="connections"),
        identity=parse_identity(identity, field="identity"),
        client=parse_client(client, field="client"),
        from_pipeline=True,
    )


def request_to_setting(request: AppRequest) -> str:
    """A pipeline's request, kept on the app (setting ``PASSWORDLESS_REQUEST``) so that later events
    reconcile it like a tag; the request index keeps the same text, so the audit finds the app too.
    Nothing in it is secret."""
    spec = request.identity
    identity = {"system": "system", "user": spec.resource_id, "create": f"create:{spec.name}"}[spec.kind.value]
    document: dict[str, Any] = {
        "connections": "; ".join(f"{c.target}:{c.role}" for c in request.connections),
        "identity": identity,
    }
    if request.client is not None:
        document["client"] = request.client.value
    return json.dumps(document, sort_keys=True)


def request_from_setting(app: AppRef, value: str) -> AppRequest:
    try:
        body = json.loads(value)
    except ValueError:
        raise InvalidRequest("app setting PASSWORDLESS_REQUEST is not JSON", field="PASSWORDLESS_REQUEST") from None
    if not isinstance(body, dict):
        raise InvalidRequest("app setting PASSWORDLESS_REQUEST must be an object", field="PASSWORDLESS_REQUEST")
    return request_from_body({**body, "app": app.id})


def parse_connections(value: str, *, field: str) -> tuple[ConnectionRequest, ...]:
    """``orders:writer; catalog:reader`` -> connections; each target at most once; any bad entry
    refuses the whole value (an explicit request: the caller fixes it)."""
    connections, skipped = parse_entries(value, field=field)
    if skipped:
        raise InvalidRequest(skipped[0].reason, field=field)
    return connections


def parse_entries(value: str, *, field: str) -> tuple[tuple[ConnectionRequest, ...], tuple[SkippedEntry, ...]]:
    """The well-formed entries, and each malformed one with its position (a tag: the rest still
    converges). A value with no well-formed entry at all is refused whole."""
    pairs = [part.strip() for part in value.split(";")]
    if not any(pairs):
        raise InvalidRequest(f"{field}: empty; expected 'target:role[; target:role]'", field=field)
    seen: dict[str, ConnectionRequest] = {}
    skipped: list[SkippedEntry] = []
    for position, pair in enumerate(pairs, start=1):
        if not pair and position == len(pairs):
            continue  # a trailing ';' is harmless
        target, sep, role = (piece.strip() for piece in pair.partition(":"))
        if not sep or not NAME.match(target) or not NAME.match(role):
            reason = (
                f"{field}: entry {position} {pair!r} is not 'target:role' "
                "(letters, digits, '-' or '_', starting with a letter)"
            )
            skipped.append(SkippedEntry(pair, reason, denied=False))
        elif target.lower() in seen:
            reason = f"{field}: entry {position} names target {target!r} a second time"
            skipped.append(SkippedEntry(pair, reason, denied=False, target=target.lower()))
        else:
            seen[target.lower()] = ConnectionRequest(target=target.lower(), role=role.lower())
    if not seen:
        raise InvalidRequest(skipped[0].reason, field=field)
    return tuple(seen.values()), tuple(skipped)


def parse_identity(value: str | None, *, field: str) -> IdentitySpec:
    if value is None or value.strip().lower() in ("", "system"):
        return IdentitySpec()
    text = value.strip()
    if text.lower().startswith("create:"):
        name = text.split(":", 1)[1].strip()
        if not IDENTITY_NAME.match(name):
            raise InvalidRequest(
                f"{field}: {name!r} is not a valid identity name (3-128 letters, digits, '-', '_')", field=field
            )
        return IdentitySpec(kind=IdentityKind.CREATE, name=name)
    rid = parse_resource_id(text, field=field)
    if rid.full_type != "microsoft.managedidentity/userassignedidentities":
        raise InvalidRequest(
            f"{field}: expected 'system', 'create:<name>' or a user-assigned identity id, got {rid.full_type}",
            field=field,
        )
    return IdentitySpec(kind=IdentityKind.USER, resource_id=rid.id, name=rid.names[0])


def parse_client(value: str | None, *, field: str) -> ClientType | None:
    if value is None or not value.strip():
        return None
    try:
        return ClientType(value.strip().lower())
    except ValueError:
        raise InvalidRequest(f"{field}: {value!r} is not one of {[c.value for c in ClientType]}", field=field) from None


def requested_by(site: SiteState, *, prefix: str = DEFAULT_TAG_PREFIX) -> AppRequest | None:
    """The request an app carries: its tag; without one, the request a pipeline made and kept on the
    app (setting ``PASSWORDLESS_REQUEST``); None when it asks for nothing."""
    if is_requested(site.tags, prefix=prefix):
        return request_from_tags(site.app, site.tags, prefix=prefix)
    kept = site.app_settings.get(REQUEST_SETTING)
    return request_from_setting(site.app, kept) if kept is not None else None


def governing_request(explicit: AppRequest, site: SiteState, *, prefix: str = DEFAULT_TAG_PREFIX) -> AppRequest:
    """One request per app. Untagged, the explicit (HTTP) request governs and is kept on the app. Tagged,
    the tag governs: an explicit request asking the same is an ordinary reconcile of the tag (nothing
    of it is kept on the app, so it can never show as drift); asking anything else is a ``Conflict``
    that names the tag."""
    value = find_tag(site.tags, prefix)
    if value is None:
        return explicit
    tagged = request_from_tags(site.app, site.tags, prefix=prefix)
    if _asks(tagged) == _asks(explicit):
        return tagged
    raise Conflict(
        f"{site.app.id} is managed by its tag {prefix!r} = {value!r}; a request over HTTP must ask for the same "
        "connections, identity and client, or the tag must be changed (or removed) instead"
    )


def _asks(request: AppRequest) -> tuple[frozenset[tuple[str, str]], str, str | None]:
    spec = request.identity
    identity = f"{spec.kind.value}:{(spec.resource_id_for(request.app) or '').lower()}"
    client = request.client.value if request.client is not None else None
    return frozenset((c.target, c.role) for c in request.connections), identity, client
