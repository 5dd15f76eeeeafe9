"""The protocol every database dialect implements for one server during one reconcile."""

from __future__ import annotations

from typing import Protocol

from provisioning.models import DatabaseSnapshot, DatabaseState, Target
from provisioning.plan import DatabaseStep


class DatabaseSession(Protocol):
    """Connections to one server as its Entra administrator, opened lazily and reused.

    ``catalog_queries`` counts catalog reads per database and ``writes`` counts statements that
    change something, so callers can prove that a no-op reconcile wrote nothing.
    """

    catalog_queries: dict[str, int]
    writes: int

    def observe(self, target: Target, principal: str) -> DatabaseState:
        """The principal, its grants inside the target's scope, and the objects in that scope."""
        ...

    def snapshot(self, target: Target) -> DatabaseSnapshot:
        """Every principal of the target's database with its grants in scope, in a fixed number of
        queries: what the audit plans all apps on that database from."""
        ...

    def render(self, step: DatabaseStep, target: Target) -> tuple[str, ...]:
        """The exact SQL ``apply`` would run for this step (the dry-run view)."""
        ...

    def apply(self, step: DatabaseStep, target: Target) -> None: ...

    def close(self) -> None: ...
