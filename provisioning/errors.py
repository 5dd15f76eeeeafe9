"""The error tree callers branch on: permanent (do not retry) versus transient (retry later)."""

from __future__ import annotations


class ProvisioningError(Exception):
    """Base of every error the core raises on purpose."""


class PermanentError(ProvisioningError):
    """Retrying will not help until a person changes something."""


class InvalidRequest(PermanentError):
    """A tag, HTTP body, event or catalog entry is malformed; ``field`` names where."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


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
