"""The error tree callers branch on: permanent (do not retry) versus transient (retry later)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ProvisioningError(Exception):
    """Base of every error the core raises on purpose."""


class PermanentError(ProvisioningError):
    """Retrying will not help until a person changes something."""


class InvalidRequest(PermanentError):
    """A tag, HTTP body, event or catalog entry is malformed; ``field`` names where. ``also``: the same
    entry's further errors, found in the same pass (``passwordless catalog check`` lists them all)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.also: tuple[InvalidRequest, ...] = ()


class FieldErrors:
    """Check an entry field by field: a failed check is kept and the next one still runs, so every error
    of the entry is found in one pass. ``raise_any`` raises the first, in field order (what a loader
    that stops at the first error would have raised), with the others in its ``also``."""

    def __init__(self) -> None:
        self.found: list[InvalidRequest] = []

    def add(self, error: InvalidRequest) -> None:
        self.found.append(error)
        self.found += error.also  # a nested entry's own further errors

    def check(self, parse: Callable[[], T]) -> T | None:
        """``parse()``, or None when it raised InvalidRequest (kept)."""
        try:
            return parse()
        except InvalidRequest as exc:
            self.add(exc)
            return None

    def raise_any(self) -> None:
        if self.found:
            first, *rest = self.found
            first.also = tuple(rest)
            raise first


class PolicyViolation(PermanentError):
    """The request is well formed but the catalog does not allow it."""


class AdminMissing(PermanentError):
    """The function (or its admin group) is not an Entra administrator of a database server."""


class LoginRefused(PermanentError):
    """A database server refused the administrator's login; the cached administrators may be out of date."""


class NotFound(PermanentError):
    """The app or resource named by a request does not exist."""


class Conflict(PermanentError):
    """Another owner holds what the request needs (a lock, or a principal of another app)."""


class PrincipalConflict(Conflict):
    """The app's principal name is taken by a principal bound to another live app's identity: rebinding
    it would hand that app's database access to this one. ``holders``: the live resources holding it."""

    def __init__(self, message: str, *, holders: tuple[str, ...]) -> None:
        super().__init__(message)
        self.holders = holders


class TransientError(ProvisioningError):
    """Try again later; ``retry_after`` is a hint in seconds when the cloud gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LockBusy(TransientError):
    """Another reconcile of the same app holds its lock; try again shortly."""


class LockLost(TransientError):
    """The per-app lock lapsed or was taken while a reconcile held it: another worker may have run the
    same app meanwhile. The state is read fresh on the next try, so a retry settles it."""


class ConvergenceError(ProvisioningError):
    """After apply, a second plan was not empty: the apply did not do what it planned."""
