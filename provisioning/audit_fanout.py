"""The audit spread over many function instances: discovered apps go out in parts through a queue,
each worker audits its part and stores it, and the worker that stores the last part writes the report.

Parts are cut by database server, so each database is read by one worker (and once more for the
orphan scan): catalog queries stay within three per database however many apps there are.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from provisioning.audit import AppAudit, AuditPart, Drift, DriftKind
from provisioning.errors import ProvisioningError
from provisioning.models import SiteState, UserAssignedIdentity
from provisioning.policy import authorize
from provisioning.reconciler import Reconciler
from provisioning.requests import request_from_tags
from provisioning.resource_ids import parse_app_id

APPS_PER_PART = 100  # a queue message holds 64 KiB; a site is well under 500 bytes


def cut_parts(reconciler: Reconciler, sites: Iterable[SiteState]) -> list[list[SiteState]]:
    """Group apps by the first database server they ask for, then cut groups to a message's size.
    Always at least one part, so an empty estate still gets its (orphan-scanning) report."""
    groups: dict[str, list[SiteState]] = defaultdict(list)
    for site in sites:
        groups[_server_of(reconciler, site)].append(site)
    parts = [
        group[i : i + APPS_PER_PART] for _, group in sorted(groups.items()) for i in range(0, len(group), APPS_PER_PART)
    ]
    return parts or [[]]


def _server_of(reconciler: Reconciler, site: SiteState) -> str:
    try:
        allowed = authorize(request_from_tags(site.app, site.tags, prefix=reconciler.tag_prefix), reconciler.catalog)
    except ProvisioningError:
        return ""
    return allowed[0].target.server.key if allowed else ""


@dataclass(frozen=True)
class PartOrder:
    """One queue message: which run, which part of how many, the part's apps, and whether drifted
    apps are reconciled (the timer's remediation setting) or only reported."""

    run: str
    part: int
    parts: int
    started: datetime
    correlation_id: str
    sites: tuple[SiteState, ...]
    remediate: bool = False

    def to_message(self) -> str:
        return json.dumps(
            {
                "run": self.run,
                "part": self.part,
                "parts": self.parts,
                "started": self.started.isoformat(),
                "correlation_id": self.correlation_id,
                "sites": [_site_to_dict(site) for site in self.sites],
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
            tuple(_site_from_dict(item) for item in body["sites"]),
            remediate=body.get("remediate") is True,
        )


def part_orders(
    reconciler: Reconciler, sites: Iterable[SiteState], *, correlation_id: str, remediate: bool = False
) -> list[PartOrder]:
    """The messages that start one spread-out audit run."""
    started = datetime.now(UTC)
    run = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    parts = cut_parts(reconciler, sites)
    return [
        PartOrder(run, index, len(parts), started, correlation_id, tuple(part), remediate)
        for index, part in enumerate(parts)
    ]


def part_to_json(part: AuditPart) -> str:
    return json.dumps(
        {
            "apps": [
                {
                    "app": a.app.id,
                    "error": a.error,
                    "remediated": a.remediated,
                    "drift": [{"kind": d.kind.value, "detail": d.detail, "target": d.target} for d in a.drift],
                }
                for a in part.apps
            ],
            "claims": sorted(list(claim) for claim in part.claims),
            "catalog_queries": part.catalog_queries,
        }
    )


def part_from_json(text: str) -> AuditPart:
    body = json.loads(text)
    apps = tuple(
        AppAudit(
            parse_app_id(a["app"]),
            tuple(Drift(DriftKind(d["kind"]), d["detail"], d["target"]) for d in a["drift"]),
            error=a["error"],
            remediated=a["remediated"],
        )
        for a in body["apps"]
    )
    claims = frozenset((str(server), str(name)) for server, name in body["claims"])
    return AuditPart(apps, claims, {str(k): int(v) for k, v in body["catalog_queries"].items()})


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
