"""ARM resource ids: parsed once, compared case-insensitively, as Azure does."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from provisioning.errors import InvalidRequest


@dataclass(frozen=True)
class ResourceId:
    """A parsed ARM id. ``types``/``names`` run from the provider's top type down to children."""

    subscription: str
    resource_group: str
    provider: str
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def id(self) -> str:
        parts = [f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"]
        parts.append(f"/providers/{self.provider}")
        for type_, name in zip(self.types, self.names, strict=True):
            parts.append(f"/{type_}/{name}")
        return "".join(parts)

    @property
    def key(self) -> str:
        """Identity for dictionaries and comparisons: ARM ids ignore case."""
        return self.id.lower()

    @property
    def full_type(self) -> str:
        return "/".join((self.provider, *self.types)).lower()

    def __str__(self) -> str:
        return self.id


def parse_resource_id(value: str, *, field: str = "resource id") -> ResourceId:
    """Parse ``/subscriptions/../resourceGroups/../providers/NS/type/name[/type/name..]``."""
    # ARM ids are not percent-encoded, and a segment with blanks at its ends names nothing: taken as
    # they are, the canonical id written back parses to the same resource.
    segments = value.strip().strip("/").split("/")
    lowered = [s.lower() for s in segments]
    if (
        len(segments) < 8
        or lowered[0] != "subscriptions"
        or lowered[2] != "resourcegroups"
        or lowered[4] != "providers"
        or len(segments) % 2 != 0
        or any(not s or s != s.strip() for s in segments)
    ):
        raise InvalidRequest(
            f"{field} {value!r} is not an ARM resource id "
            "(/subscriptions/<id>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>)",
            field=field,
        )
    rest = segments[6:]
    return ResourceId(
        subscription=segments[1],
        resource_group=segments[3],
        provider=segments[5],
        types=tuple(rest[0::2]),
        names=tuple(rest[1::2]),
    )


@dataclass(frozen=True)
class AppRef:
    """A web app (``slot`` is None) or one of its deployment slots."""

    subscription: str
    resource_group: str
    site: str
    slot: str | None = None

    @property
    def id(self) -> str:
        base = (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Web/sites/{self.site}"
        )
        return f"{base}/slots/{self.slot}" if self.slot else base

    @property
    def key(self) -> str:
        return self.id.lower()

    @property
    def display_name(self) -> str:
        return f"{self.site}/{self.slot}" if self.slot else self.site

    def __str__(self) -> str:
        return self.id


def parse_app_id(value: str, *, field: str = "app") -> AppRef:
    """Accept a site or slot id (any case); anything else is a clear error."""
    rid = parse_resource_id(value, field=field)
    kind = rid.full_type
    if kind == "microsoft.web/sites" and len(rid.names) == 1:
        return AppRef(rid.subscription, rid.resource_group, rid.names[0])
    if kind == "microsoft.web/sites/slots" and len(rid.names) == 2:
        return AppRef(rid.subscription, rid.resource_group, rid.names[0], rid.names[1])
    raise InvalidRequest(
        f"{field} {value!r} is a {rid.provider}/{'/'.join(rid.types)}, not a Microsoft.Web site or slot",
        field=field,
    )


def is_within(resource: str, scope: str) -> bool:
    """True when ``resource`` lies inside ARM ``scope`` (subscription, group or id prefix).

    Compared segment by segment so ``/resourceGroups/rg-a`` does not contain ``rg-ab``.
    """
    res, sco = _segments(resource), _segments(scope)
    return len(sco) <= len(res) and res[: len(sco)] == sco


@lru_cache(maxsize=4096)
def _segments(path: str) -> tuple[str, ...]:
    """A path's segments, lower-cased; cached, since an audit asks the same few scopes of every app
    and the same app of every scope."""
    return tuple(s.lower() for s in path.strip().strip("/").split("/"))
