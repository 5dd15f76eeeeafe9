"""Write routes fail closed: without App Service Authentication the caller header is never read."""

from __future__ import annotations

import base64
import json

from triggers.caller import PRINCIPAL_HEADER, write_refusal

ROLE = "Passwordless.Apply"


def header(*roles: str) -> str:
    claims = [{"typ": "roles", "val": role} for role in roles]
    return base64.b64encode(json.dumps({"claims": claims}).encode()).decode()


def never_read(name: str) -> str | None:
    raise AssertionError(f"{name} was read while App Service Authentication is off")


def test_with_authentication_off_the_header_is_never_read_and_writes_are_refused() -> None:
    refusal = write_refusal(role=ROLE, authentication_on=False, read_header=never_read)
    assert refusal is not None
    title, detail = refusal
    assert title == "Authentication not configured" and "WEBSITE_AUTH_ENABLED" in detail


def test_with_authentication_on_the_role_decides() -> None:
    def headers(value: str | None) -> dict[str, str | None]:
        return {PRINCIPAL_HEADER: value}

    assert write_refusal(role=ROLE, authentication_on=True, read_header=headers(header(ROLE)).get) is None
    refused = write_refusal(role=ROLE, authentication_on=True, read_header=headers(header("Reader")).get)
    assert refused == ("Role required", f"the caller lacks app role {ROLE!r}")
    missing = write_refusal(role=ROLE, authentication_on=True, read_header=headers(None).get)
    assert missing is not None and missing[0] == "Role required"
    garbage = write_refusal(role=ROLE, authentication_on=True, read_header=headers("%%%").get)
    assert garbage == ("Role required", f"{PRINCIPAL_HEADER} is not valid base64 JSON")


def test_an_empty_role_is_the_demos_explicit_off_switch() -> None:
    assert write_refusal(role="", authentication_on=False, read_header=never_read) is None
