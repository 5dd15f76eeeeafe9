"""The audit spread over many function instances, start to report.

A start (the timer, or POST /api/audit through the queue) discovers the apps (one Resource Graph query
for the tagged ones, one read of the request index for those requested over HTTP), cuts them into
parts and stores each part's input; each queue message names one part; the worker that audits a part
stores its findings, and the worker that stores the last one combines them, writes the report and
publishes a drift event per drifted app. The triggers only adapt to this.

Parts are the connected groups of catalog servers that apps share: an app lands in the part of the
servers it asks for, and every database of those servers is read once, by that part, for its apps
and for the orphan scan alike. Catalog queries stay at one snapshot per database however many apps
there are (PRODUCT.md section 7); a part's input lives in a blob, since a queue message holds 64 KiB.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from provisioning.audit import (
    AppAudit,
    AuditPart,
    AuditReport,
    Drift,
    DriftKind,
    RemediationLog,
    audit_part,
    combine,
    stale_roles,
)
from provisioning.errors import ProvisioningError
from provisioning.models import Catalog, IndexedRequest, SiteState, UserAssignedIdentity
from provisioning.policy import authorize
from provisioning.reconciler import Reconciler
from provisioning.requested_apps import Requested, request_of
from provisioning.resource_ids import parse_app_id

log = logging.getLogger(__name__)
REMEDIATION_TRIGGER = "timer"  # the run records of the scheduled audit's remediations
OTHER_PARTS_LOOK_S = 2.0  # how often a running part counts the parts of its audit still unstored


class AuditStorePort(Protocol):
    def put_input(self, run: str, index: int, text: str) -> None: ...
    def read_input(self, run: str, index: int) -> str: ...
    def put_part(self, run: str, index: int, text: str) -> int: ...
    def parts_stored(self, run: str) -> int: ...
    def claim_aggregation(self, run: str) -> bool: ...
    def read_parts(self, run: str) -> list[str]: ...
    def write_reports(self, report: AuditReport) -> None: ...


class RequestedAppsPort(Protocol):
    def list_requested(self) -> Requested: ...


class ArmSharePort(Protocol):
    def share_at_most(self, callers: int) -> None: ...


class DriftEventsPort(Protocol):
    def drifted(self, audit: AppAudit, *, correlation_id: str) -> None: ...

    def recorder(self, *, trigger: str, correlation_id: str) -> RemediationLog: ...


@dataclass(frozen=True)
class Part:
    """A share of the audit: catalog servers to read (once each) and the apps that use them, tagged
    (as Resource Graph found them) or indexed (read by the part's worker)."""

    servers: tuple[str, ...]
    sites: tuple[SiteState, ...]
    indexed: tuple[IndexedRequest, ...] = ()


def cut_parts(catalog: Catalog, requested: Requested, *, tag_prefix: str) -> list[Part]:
    """Servers that one app asks for together go in one part, with every app that uses any of them;
    a server no app uses still gets its (orphan-scanning) part. Apps whose request is refused need no
    database and go in a part of their own. Always at least one part, so an empty estate gets a report.
    An indexed app is placed by the request the index keeps for it."""
    parent = {target.server.key: target.server.key for target in catalog.targets.values()}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    placed: list[tuple[SiteState | IndexedRequest, str | None]] = []
    for found in requested.every():
        servers = _servers_of(catalog, found, tag_prefix)
        for server in servers[1:]:
            parent[root(server)] = root(servers[0])
        placed.append((found, servers[0] if servers else None))
    groups: dict[str | None, tuple[list[str], list[SiteState], list[IndexedRequest]]] = {}
    for server in sorted(parent):
        groups.setdefault(root(server), ([], [], []))[0].append(server)
    for found, first in placed:
        group = groups.setdefault(root(first) if first else None, ([], [], []))
        if isinstance(found, SiteState):
            group[1].append(found)
        else:
            group[2].append(found)
    parts = [Part(tuple(servers), tuple(sites), tuple(indexed)) for servers, sites, indexed in groups.values()]
    return parts or [Part((), ())]


def _servers_of(catalog: Catalog, found: SiteState | IndexedRequest, tag_prefix: str) -> list[str]:
    try:
        allowed = authorize(request_of(found, prefix=tag_prefix), catalog)
    except ProvisioningError:
        return []
    return sorted({grantable.target.server.key for grantable in allowed})


@dataclass(frozen=True)
class PartOrder:
    """One queue message: which run, which part of how many, and whether drifted apps are reconciled
    (the timer's remediation setting) or only reported; the part's input is in the store."""

    run: str
    part: int
    parts: int
    started: datetime
    correlation_id: str
    remediate: bool = False

    def to_message(self) -> str:
        return json.dumps(
            {
                "run": self.run,
                "part": self.part,
                "parts": self.parts,
                "started": self.started.isoformat(),
                "correlation_id": self.correlation_id,
                "remediate": self.remediate,
            }
        )

    @classmethod
    def from_message(cls, text: str) -> PartOrder:
        body = json.loads(text)
        return cls(
            str(body["run"]),
            int(body["part"]),
            int(body["parts"]),
            datetime.fromisoformat(body["started"]),
            str(body["correlation_id"]),
            remediate=body.get("remediate") is True,
        )


class AuditRuns:
    """Starts spread-out audits and runs their parts; the last part stored writes the report."""

    def __init__(
        self,
        reconciler: Reconciler,
        requested: RequestedAppsPort,
        store: AuditStorePort,
        events: DriftEventsPort,
        arm_share: ArmSharePort,
    ) -> None:
        self._reconciler = reconciler
        self._requested = requested
        self._store = store
        self._events = events
        self._arm_share = arm_share

    def start(self, *, correlation_id: str, remediate: bool = False) -> list[str]:
        """Discover, cut and store the parts; return the queue messages that run them."""
        started = datetime.now(UTC)
        run = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        reconciler = self._reconciler
        parts = cut_parts(reconciler.catalog, self._requested.list_requested(), tag_prefix=reconciler.tag_prefix)
        for index, part in enumerate(parts):
            self._store.put_input(run, index, part_input_to_json(part))
        apps = sum(len(p.sites) + len(p.indexed) for p in parts)
        log.info("audit %s: %d app(s) in %d part(s)", run, apps, len(parts))
        return [
            PartOrder(run, index, len(parts), started, correlation_id, remediate).to_message()
            for index in range(len(parts))
        ]

    def run_part(self, message: str) -> AuditReport | None:
        """Audit one part; the report when this worker stored the last part and won the aggregation."""
        order = PartOrder.from_message(message)
        part = part_input_from_json(self._store.read_input(order.run, order.part))
        # Only the scheduled audit remediates (PASSWORDLESS_AUDIT_REMEDIATE); its reconciles are recorded.
        recorded = self._events.recorder(trigger=REMEDIATION_TRIGGER, correlation_id=order.correlation_id)
        with self._news_of_other_parts(order):
            found = audit_part(
                self._reconciler,
                part.sites,
                indexed=part.indexed,
                servers=part.servers,
                remediate=order.remediate,
                remediations=recorded,
            )
        stored = self._store.put_part(order.run, order.part, part_to_json(found))
        if stored < order.parts or not self._store.claim_aggregation(order.run):
            return None
        parts = [part_from_json(text) for text in self._store.read_parts(order.run)]
        report = combine(parts, started=order.started, remediate=order.remediate)
        if self._reconciler.catalog.rbac_targets:  # role-stale needs every part's claims at once
            report = replace(report, orphans=(*report.orphans, *stale_roles(self._reconciler, parts)))
        self._store.write_reports(report)
        for app in report.apps:
            self._events.drifted(app, correlation_id=order.correlation_id)
        log.info("audit %s: %d app(s), %s", order.run, len(report.apps), report.counts())
        return report

    @contextmanager
    def _news_of_other_parts(self, order: PartOrder) -> Iterator[None]:
        """While a part runs, tell ARM's pacing, as it starts and every few seconds, how many parts
        of the audit are not yet stored: no more instances than that spend from the subscriptions'
        buckets for it, so a worker whose peers have finished soon takes the whole rate (and what
        they left) instead of waiting for ARM's silence to tell it. Other functions spending from the
        same buckets at the same time are not counted: ARM's 429s still are. Advisory: a failed look
        ends the news, not the part."""
        done = threading.Event()

        def watch() -> None:
            while True:
                try:
                    unfinished = order.parts - self._store.parts_stored(order.run)
                except ProvisioningError as exc:
                    log.warning("audit %s: no news of its other parts (%s); pacing by ARM alone", order.run, exc)
                    return
                self._arm_share.share_at_most(max(1, unfinished))
                if done.wait(OTHER_PARTS_LOOK_S):
                    return

        watcher = threading.Thread(target=watch, name=f"audit-{order.run}-parts", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()


def part_input_to_json(part: Part) -> str:
    return json.dumps(
        {
            "servers": list(part.servers),
            "sites": [_site_to_dict(site) for site in part.sites],
            "indexed": [{"app": entry.app.id, "request": entry.request} for entry in part.indexed],
        }
    )


def part_input_from_json(text: str) -> Part:
    body = json.loads(text)
    return Part(
        tuple(str(s) for s in body["servers"]),
        tuple(_site_from_dict(item) for item in body["sites"]),
        tuple(IndexedRequest(parse_app_id(item["app"]), str(item["request"])) for item in body.get("indexed", [])),
    )


def part_to_json(part: AuditPart) -> str:
    return json.dumps(
        {
            "apps": [
                {
                    "app": a.app.id,
                    "error": a.error,
                    "remediated": a.remediated,
                    "drift": [_drift_to_dict(d) for d in a.drift],
                }
                for a in part.apps
            ],
            "orphans": [_drift_to_dict(d) for d in part.orphans],
            "catalog_queries": part.catalog_queries,
            "incomplete": list(part.incomplete),
            "role_claims": [list(claim) for claim in part.role_claims],
        }
    )


def part_from_json(text: str) -> AuditPart:
    body = json.loads(text)
    apps = tuple(
        AppAudit(
            parse_app_id(a["app"]),
            tuple(_drift_from_dict(d) for d in a["drift"]),
            error=a["error"],
            remediated=a["remediated"],
        )
        for a in body["apps"]
    )
    orphans = tuple(_drift_from_dict(d) for d in body["orphans"])
    queries = {str(k): int(v) for k, v in body["catalog_queries"].items()}
    claims = tuple((str(place), str(principal)) for place, principal in body.get("role_claims", []))
    return AuditPart(apps, orphans, queries, tuple(str(reason) for reason in body.get("incomplete", [])), claims)


def _drift_to_dict(drift: Drift) -> dict[str, Any]:
    return {"kind": drift.kind.value, "detail": drift.detail, "target": drift.target, "fix": drift.fix}


def _drift_from_dict(item: dict[str, Any]) -> Drift:
    return Drift(DriftKind(item["kind"]), item["detail"], item["target"], item.get("fix"))


def _site_to_dict(site: SiteState) -> dict[str, Any]:
    return {
        "id": site.app.id,
        "tags": site.tags,
        "stack": site.linux_fx_version,
        "location": site.location,
        "system": site.system_principal_id,
        "user": {rid: [ids.principal_id, ids.client_id] for rid, ids in site.user_assigned.items()},
    }


def _site_from_dict(item: dict[str, Any]) -> SiteState:
    return SiteState(
        app=parse_app_id(item["id"]),
        tags=dict(item["tags"]),
        linux_fx_version=item["stack"],
        system_principal_id=item["system"],
        user_assigned={rid: UserAssignedIdentity(ids[0], ids[1]) for rid, ids in item["user"].items()},
        app_settings={},
        location=item["location"],
    )
