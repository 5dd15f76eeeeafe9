"""Event dedupe against the lock blob (Azurite): event ids decide first; time only with a margin that
errs towards reconciling, so a worker clock ahead of ARM's never drops a real change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from provisioning.azure.credentials import default_credential
from provisioning.azure.locks import SKEW_MARGIN, AppLocks
from provisioning.config import Config
from provisioning.resource_ids import AppRef

pytestmark = pytest.mark.integration


def test_a_change_after_the_read_is_reconciled_even_with_a_fast_worker_clock(azurite: str) -> None:
    locks = AppLocks(default_credential(), Config(catalog="unused", storage_connection=azurite))
    app = AppRef("00000000-0000-0000-0000-000000000001", "rg-apps", f"skew-{uuid.uuid4().hex[:8]}")
    before = datetime.now(UTC)
    with locks.hold(app, cause="first-event"):
        pass  # the reconcile read the app here, by a worker clock 3 s ahead of ARM's

    changed_after_the_read = before - timedelta(seconds=2)  # ARM's clock: 1 s after the read
    assert not locks.already_handled(app, "second-event", changed_after_the_read)
    assert locks.already_handled(app, "first-event", changed_after_the_read)  # the same delivery again
    long_before = before - SKEW_MARGIN - timedelta(seconds=1)
    assert locks.already_handled(app, "a-late-retry", long_before)  # older than any tolerated skew
    assert not locks.already_handled(app, "no-time", None)
