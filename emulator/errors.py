"""ARM's error shape, so SDK clients map emulator failures to the same exceptions as Azure's."""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """A failed ARM call: HTTP status plus the `{"error": {"code", "message"}}` body ARM sends."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        inner_code: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.inner_code = inner_code  # Key Vault's `innererror.code` (e.g. ForbiddenByRbac)
        self.details = list(details or [])  # Resource Graph's `details` (e.g. InvalidQuery)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner_code is not None:
            error["innererror"] = {"code": self.inner_code}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def bad_request(message: str, *, code: str = "BadRequest") -> ArmError:
    return ArmError(400, code, message)


def subscription_not_found(subscription_id: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")


def group_not_found(resource_group: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")


def resource_not_found(provider_path: str, resource_group: str) -> ArmError:
    """`provider_path` is the id after `/providers/`, e.g. `Microsoft.Web/sites/shop-web`, as ARM words it."""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{provider_path}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )
