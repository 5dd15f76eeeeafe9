"""Who is calling: App Service Authentication forwards the signed-in caller as base64 JSON.

The header is evidence only when the platform put it there. With App Service Authentication on, the
platform strips any copy a caller sends and sets its own; with it off, anyone holding the function key
can send one. So write routes fail closed: without authentication on, the header is never read.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
ROLE_CLAIMS = ("roles", "role", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")


def write_refusal(
    *, role: str, authentication_on: bool, read_header: Callable[[str], str | None]
) -> tuple[str, str] | None:
    """``(title, detail)`` of why the caller may not write, or None when it may.

    An empty ``role`` is the demo's explicit switch that turns the check off. Otherwise the header is
    read only when App Service Authentication is on (``WEBSITE_AUTH_ENABLED=True``).
    """
    if not role:
        return None
    if not authentication_on:
        return (
            "Authentication not configured",
            "write routes need App Service Authentication on the function (WEBSITE_AUTH_ENABLED is not True): "
            f"without it a caller's role cannot be known, so app role {role!r} cannot be checked",
        )
    refused = missing_role(read_header(PRINCIPAL_HEADER), role)
    return ("Role required", refused) if refused else None


def missing_role(header: str | None, role: str) -> str | None:
    """Why the principal the platform forwarded lacks the app role, or None when it carries it."""
    if not header:
        return f"write routes need an authenticated caller with app role {role!r}"
    try:
        principal = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return f"{PRINCIPAL_HEADER} is not valid base64 JSON"
    claims = principal.get("claims") if isinstance(principal, dict) else None
    roles = {c.get("val") for c in claims or [] if isinstance(c, dict) and c.get("typ") in ROLE_CLAIMS}
    return None if role in roles else f"the caller lacks app role {role!r}"
