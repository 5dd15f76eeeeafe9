"""What a reconcile did to one app, in which mode: the value every entry point reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from provisioning.plan import Plan
from provisioning.resource_ids import AppRef


class Mode(str, Enum):
    APPLY = "apply"
    PLAN = "plan"


@dataclass(frozen=True)
class ReconcileResult:
    """What happened to one app. ``plan`` is what was (or would be) applied."""

    app: AppRef
    mode: Mode
    plan: Plan
    applied: bool
    seconds: float
    database_catalog_queries: dict[str, int] = field(default_factory=dict)
    database_writes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app.id,
            "mode": self.mode.value,
            "outcome": "converged" if self.applied else ("no-op" if self.plan.empty else "planned"),
            "plan": self.plan.to_dict(),
            "seconds": round(self.seconds, 3),
            "database_writes": self.database_writes,
        }
