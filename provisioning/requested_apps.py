"""One source of requests for discovery: every app that asks for something, however it asked.

A tag is found by Resource Graph, which returns the app's tags, identities and stack with it. A request
made over HTTP is kept in an app setting, which Resource Graph cannot see; the request index names
those apps. An app in both is Resource Graph's: its tag governs it (``requests.governing_request``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from provisioning.models import AppRequest, IndexedRequest, SiteState
from provisioning.ports import RequestIndexPort
from provisioning.requests import request_from_setting, request_from_tags


class TaggedAppsPort(Protocol):
    def list_tagged_apps(self) -> Iterable[SiteState]: ...


@dataclass(frozen=True)
class Requested:
    tagged: tuple[SiteState, ...]  # as Resource Graph found them
    indexed: tuple[IndexedRequest, ...]  # requested over HTTP and not tagged: their sites are read from ARM

    def every(self) -> tuple[SiteState | IndexedRequest, ...]:
        return (*self.tagged, *self.indexed)


class RequestedApps:
    def __init__(self, tagged: TaggedAppsPort, index: RequestIndexPort) -> None:
        self._tagged = tagged
        self._index = index

    def list_requested(self) -> Requested:
        """Resource Graph's tagged apps, and the indexed apps it did not return."""
        tagged = tuple(self._tagged.list_tagged_apps())
        found = {site.app.key for site in tagged}
        return Requested(tagged, tuple(entry for entry in self._index.list_indexed() if entry.app.key not in found))


def request_of(found: SiteState | IndexedRequest, *, prefix: str) -> AppRequest:
    """What a discovered app asks for, as discovery knows it: its tag, or the request the index keeps."""
    if isinstance(found, SiteState):
        return request_from_tags(found.app, found.tags, prefix=prefix)
    return request_from_setting(found.app, found.request)
