"""Who is calling: App Service Authentication forwards the signed-in caller as base64 JSON."""

from __future__ import annotations

import base64
import binascii
import json

PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
ROLE_CLAIMS = ("roles", "role", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")


def missing_role(header: str | None, role: str) -> str | None:
    """Why the caller may not write, or None when it carries the app role. Outside callers cannot set
    this header: App Service Authentication strips and sets it."""
    if not header:
        return f"write routes need an authenticated caller with app role {role!r}"
    try:
        principal = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return f"{PRINCIPAL_HEADER} is not valid base64 JSON"
    claims = principal.get("claims") if isinstance(principal, dict) else None
    roles = {c.get("val") for c in claims or [] if isinstance(c, dict) and c.get("typ") in ROLE_CLAIMS}
    return None if role in roles else f"the caller lacks app role {role!r}"
