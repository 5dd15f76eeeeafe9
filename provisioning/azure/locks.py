"""One reconcile per app at a time, across every function instance: a blob lease per app.

The blobs live in the function's own storage account (see ``storage``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import azure_errors
from provisioning.azure.storage import blob_service
from provisioning.config import Config
from provisioning.errors import LockBusy, LockLost, ProvisioningError, TransientError
from provisioning.resource_ids import AppRef

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

log = logging.getLogger(__name__)
CONTAINER = "passwordless-locks"
# The longest finite lease Blob storage grants (15 to 60 s:
# https://learn.microsoft.com/rest/api/storageservices/lease-blob), so a crashed holder frees the app
# within a minute; a live holder renews it while its reconcile runs (ARM retries and timeouts can make
# one outlast a minute).
LEASE_SECONDS = 60
RENEWALS_PER_LEASE = 3  # renewed every 20 s: two renewals may fail (and be retried) before it lapses
POLL_SECONDS = 0.25
RECONCILED_AT = "reconciled_at"
CAUSES = "causes"
REMEMBERED_CAUSES = 32  # event ids kept per app; blob metadata holds 8 KiB
# How far this worker's clock may run ahead of the clock that stamps ARM's ``eventTime`` before a
# change made after a reconcile read the app is taken for one it saw. Erring the other way costs
# only a no-op reconcile (reads, no writes), so the margin is generous.
SKEW_MARGIN = timedelta(minutes=5)


class AppLocks:
    def __init__(self, credential: TokenCredential, config: Config, *, wait_seconds: float = 30.0) -> None:
        self._credential = credential
        self._config = config
        self._wait_seconds = wait_seconds
        self._container: Any = None

    @contextmanager
    def hold(self, app: AppRef, *, cause: str | None = None) -> Iterator[None]:
        """Wait (bounded) for the app's lease; ``LockBusy`` when another holder keeps it too long.

        The lease is renewed while the work runs, so it lives as long as the work; ``LockLost`` when it
        could not be kept (a renewal refused, or the lease broken). On success the blob remembers when
        this reconcile began and what caused it (an event id)."""
        from azure.core.exceptions import HttpResponseError, ServiceRequestError

        with azure_errors(f"prepare the lock of {app.id}", service="storage"):
            blob = self._blob(app)
        deadline = time.monotonic() + self._wait_seconds
        while True:
            try:
                lease = blob.acquire_lease(lease_duration=LEASE_SECONDS)
                break
            except (HttpResponseError, ServiceRequestError) as exc:
                if getattr(exc, "status_code", None) != 409:
                    raise TransientError(f"lock for {app.id}: storage failed ({type(exc).__name__})") from exc
                if time.monotonic() >= deadline:
                    raise LockBusy(f"another reconcile of {app.id} holds its lock", retry_after=10) from exc
                time.sleep(POLL_SECONDS)
        started = datetime.now(UTC)
        finished = False
        keeper = _LeaseKeeper(lease, LEASE_SECONDS / RENEWALS_PER_LEASE)
        try:
            with keeper:
                yield
            if keeper.lost is not None:
                raise LockLost(f"the lock of {app.id} was lost while it reconciled: {keeper.lost}")
            try:
                with azure_errors(f"record the reconcile of {app.id}", service="storage"):
                    metadata = blob.get_blob_properties().metadata or {}
                    causes = ([cause] if cause else []) + metadata.get(CAUSES, "").split()
                    blob.set_blob_metadata(
                        {RECONCILED_AT: started.isoformat(), CAUSES: " ".join(causes[:REMEMBERED_CAUSES])}, lease=lease
                    )
            except ProvisioningError as exc:
                if _lease_gone(exc):
                    raise LockLost(f"the lock of {app.id} was lost while it reconciled: {exc}") from exc
                raise
            finished = True
        finally:
            if keeper.lost is None:
                try:
                    with azure_errors(f"release the lock of {app.id}", service="storage"):
                        lease.release()
                except ProvisioningError:
                    if finished:
                        raise
                    # the reconcile's own error matters more; an unreleased lease lapses in a minute
                    log.warning("the lock of %s was not released; it lapses by itself", app.id)

    def already_handled(self, app: AppRef, cause: str, moment: datetime | None) -> bool:
        """True when this very event was reconciled already (Event Grid delivers at least once), or a
        finished reconcile began more than ``SKEW_MARGIN`` after the event's time, so it surely read
        state that already held the change. Event ids decide first; time only with the margin."""
        with azure_errors(f"read the lock of {app.id}", service="storage"):
            metadata = self._blob(app).get_blob_properties().metadata or {}
        if cause in metadata.get(CAUSES, "").split():
            return True
        value = metadata.get(RECONCILED_AT)
        return moment is not None and value is not None and datetime.fromisoformat(value) - SKEW_MARGIN >= moment

    def _blob(self, app: AppRef) -> Any:
        """The app's lock blob, named by a digest: ARM ids are case-insensitive and may hold any character."""
        from azure.core.exceptions import ResourceExistsError

        container = self._get_container()
        blob = container.get_blob_client(hashlib.sha256(app.key.encode()).hexdigest())
        with suppress(ResourceExistsError):
            blob.upload_blob(b"", overwrite=False)
        return blob

    def _get_container(self) -> Any:
        if self._container is None:
            from azure.core.exceptions import ResourceExistsError

            container = blob_service(self._config, self._credential).get_container_client(CONTAINER)
            with suppress(ResourceExistsError):
                container.create_container()
            self._container = container
        return self._container


class _LeaseKeeper:
    """Renews a blob lease from a background thread while the work runs; ``lost`` says why it stopped
    being ours (storage refused a renewal: the lease lapsed or someone broke it)."""

    def __init__(self, lease: Any, every: float) -> None:
        self._lease = lease
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self.lost: str | None = None

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

        failures = 0
        while not self._stop.wait(self._every):
            try:
                self._lease.renew()
                failures = 0
            except HttpResponseError as exc:
                if exc.status_code == 409:  # the lease is no longer this one: lapsed, broken or taken
                    code = getattr(exc, "error_code", None)
                    self.lost = f"storage refused to renew the lease ({getattr(code, 'value', code) or 409})"
                    return
                failures += 1
            except (ServiceRequestError, ServiceResponseError):
                failures += 1
            if failures >= RENEWALS_PER_LEASE:
                self.lost = "storage could not be reached to renew the lease"
                return


def _lease_gone(error: ProvisioningError) -> bool:
    """A Storage refusal because the lease is not (or no longer) the one held. Blob service error
    codes (Storage REST reference): ``LeaseLost``, ``LeaseIdMismatchWithBlobOperation``,
    ``LeaseNotPresentWithBlobOperation`` (412) on a write; ``LeaseIsBrokenAndCannotBeRenewed``,
    ``LeaseIdMismatchWithLeaseOperation`` (409) on a renewal."""
    cause = error.__cause__
    code = getattr(cause, "error_code", None)
    code = str(getattr(code, "value", code) or "")  # the SDK gives a StorageErrorCode or a str
    return getattr(cause, "status_code", None) in (409, 412) and "Lease" in code
