"""The audit's discovery: tagged apps (Resource Graph) and indexed ones (requested over HTTP) are one
estate. Every app lands in exactly one part with every server it asks for, however the apps mix, and
a part's input survives its blob; an app both tagged and indexed is the tag's."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.audit_fanout import cut_parts, part_input_from_json, part_input_to_json
from provisioning.catalog import catalog_from_document
from provisioning.models import IndexedRequest, SiteState
from provisioning.requested_apps import Requested, RequestedApps
from provisioning.resource_ids import AppRef
from tests.factories import RG, SUB

SERVERS = [
    f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg{n}"
    for n in range(4)
]
TARGETS = {f"t{s}{d}": server for s, server in enumerate(SERVERS) for d in range(2)}
CATALOG = catalog_from_document(
    {
        "targets": [
            {
                "name": name,
                "engine": "postgres",
                "server": server,
                "database": name,
                "roles": ["reader"],
                "allowed_sources": [f"/subscriptions/{SUB}/resourceGroups/{RG}"],
            }
            for name, server in TARGETS.items()
        ]
    }
)
SERVER_OF = {name: CATALOG.targets[name].server.key for name in TARGETS}


def tagged(number: int, targets: list[str]) -> SiteState:
    tag = "; ".join(f"{t}:reader" for t in targets)
    return SiteState(AppRef(SUB, RG, f"tagged-{number}"), {"passwordless": tag}, "PYTHON|3.12", None, {}, {})


def indexed(number: int, targets: list[str]) -> IndexedRequest:
    request = json.dumps({"connections": "; ".join(f"{t}:reader" for t in targets), "identity": "system"})
    return IndexedRequest(AppRef(SUB, RG, f"indexed-{number}"), request)


asks = st.lists(st.sampled_from(sorted(TARGETS)), min_size=1, max_size=3, unique=True)


@settings(max_examples=150, deadline=None)
@given(tagged_asks=st.lists(asks, max_size=6), indexed_asks=st.lists(asks, max_size=6))
def test_every_app_is_in_one_part_with_every_server_it_asks_for(
    tagged_asks: list[list[str]], indexed_asks: list[list[str]]
) -> None:
    apps = {site.app.key: set(targets) for site, targets in ((tagged(n, t), t) for n, t in enumerate(tagged_asks))}
    apps |= {entry.app.key: set(t) for entry, t in ((indexed(n, t), t) for n, t in enumerate(indexed_asks))}
    requested = Requested(
        tuple(tagged(n, t) for n, t in enumerate(tagged_asks)),
        tuple(indexed(n, t) for n, t in enumerate(indexed_asks)),
    )

    parts = cut_parts(CATALOG, requested, tag_prefix="passwordless")

    placed = [(a.app.key, part) for part in parts for a in (*part.sites, *part.indexed)]
    assert sorted(key for key, _ in placed) == sorted(apps)  # each once
    for key, part in placed:
        assert {SERVER_OF[t] for t in apps[key]} <= set(part.servers)
    servers = [server for part in parts for server in part.servers]
    assert sorted(servers) == sorted(set(SERVER_OF.values()))  # each server scanned by one part
    assert [part_input_from_json(part_input_to_json(part)) for part in parts] == parts


class Graph:
    def __init__(self, sites: list[SiteState]) -> None:
        self.sites = sites

    def list_tagged_apps(self) -> list[SiteState]:
        return self.sites


class Index:
    def __init__(self, entries: list[IndexedRequest]) -> None:
        self.entries = entries

    def record(self, app: AppRef, request: str) -> None:
        raise AssertionError("discovery never writes the index")

    def forget(self, app: AppRef) -> None:
        raise AssertionError("discovery never writes the index")

    def list_indexed(self) -> list[IndexedRequest]:
        return self.entries


def test_an_app_tagged_and_indexed_is_discovered_once_as_the_tags() -> None:
    both, only_indexed = indexed(1, ["t00"]), indexed(2, ["t10"])
    site = SiteState(both.app, {"Passwordless": "t00:reader"}, "", None, {}, {})
    found = RequestedApps(Graph([site]), Index([both, only_indexed])).list_requested()
    assert found == Requested((site,), (only_indexed,))
