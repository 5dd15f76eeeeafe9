"""The emulator held to real Azure answers, field by field: for each recorded operation it serves,
every field and header the recording has that the product reads is in the emulator's answer, with the
same name, casing, JSON type and status. An emulator that only agreed with the product would prove nothing."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.rest import HttpRequest
from azure.mgmt.web import WebSiteManagementClient

from emulator import Emulator
from emulator.postgres import API_VERSION as PG_API
from emulator.sites import API_VERSION as WEB_API
from tests.contracts.replay import interactions
from tests.emulator.emulator_estate import APPS, BILLING_API, PG_ORDERS, SHOP_WEB

MISSING = object()


def lookup(document: Any, path: str) -> Any:
    """`a.b.*.c`: `*` is the first key of a mapping (identity keys differ between estates)."""
    value = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return MISSING
        value = next(iter(value.values()), MISSING) if part == "*" else value.get(part, MISSING)
    return value


def served(web: WebSiteManagementClient, method: str, path: str, api: str, body: Any = None) -> tuple[int, Any, Any]:
    request = HttpRequest(method, f"{path}?api-version={api}", json=body)
    response = web.send_request(request)
    response.read()
    return response.status_code, (response.json() if response.content else None), response.headers


def same_shape(recording: str, index: int, answer: tuple[int, Any, Any], fields: list[str], headers: list[str]) -> None:
    recorded = interactions(recording)[index]["response"]
    status, body, got_headers = answer
    assert status == recorded["status"], recording
    for path in fields:
        want, got = lookup(recorded["body"], path), lookup(body, path)
        assert want is not MISSING, f"{recording}: the recording has no {path}"
        assert got is not MISSING, f"{recording}: the emulator's answer lacks {path}"
        assert type(got) is type(want), (
            f"{recording}: {path} is {type(got).__name__}, Azure sends {type(want).__name__}"
        )
    for name in headers:
        assert name in {h.lower() for h in recorded["headers"]}, f"{recording}: no {name} recorded"
        assert name in {h.lower() for h in got_headers}, f"{recording}: the emulator sends no {name}"


SITE_FIELDS = [
    "id", "name", "type", "kind", "location", "properties.siteConfig.linuxFxVersion",
    "identity.type", "identity.principalId", "identity.tenantId",
    "identity.userAssignedIdentities.*.principalId", "identity.userAssignedIdentities.*.clientId",
]  # fmt: skip


def test_site_get_with_both_identities(emu: Emulator, web: WebSiteManagementClient) -> None:
    answer = served(web, "GET", BILLING_API, WEB_API)
    same_shape("site_get_system_and_user.json", 0, answer, SITE_FIELDS, ["etag"])
    body = answer[1]
    assert all("/resourcegroups/" in key for key in body["identity"]["userAssignedIdentities"])
    assert body["location"] == "West Europe"  # a display name, as "France Central" is recorded


def test_an_untagged_site_has_no_tags_key(emu: Emulator, web: WebSiteManagementClient) -> None:
    recorded = interactions("site_get.json")[0]["response"]["body"]
    _, body, _ = served(web, "GET", f"{APPS}/providers/Microsoft.Web/sites/orders-api", WEB_API)
    assert "tags" not in recorded and "tags" not in body


def test_app_settings_list_and_put(emu: Emulator, web: WebSiteManagementClient) -> None:
    listed = served(web, "POST", f"{SHOP_WEB}/config/appsettings/list", WEB_API)
    same_shape(
        "appsettings_list.json", 0, listed, ["id", "name", "type", "properties"],
        ["x-ms-ratelimit-remaining-subscription-resource-requests"],
    )  # fmt: skip
    assert not any(h.lower().endswith("-writes") for h in listed[2])  # as recorded: no ARM write header
    put = served(web, "PUT", f"{SHOP_WEB}/config/appsettings", WEB_API, {"properties": {"A": "1"}})
    same_shape(
        "appsettings_put.json", 0, put, ["id", "name", "type", "properties"],
        ["x-ms-ratelimit-remaining-subscription-writes", "x-ms-ratelimit-remaining-subscription-global-writes"],
    )  # fmt: skip
    assert put[1]["properties"] == {"A": "1"}  # the whole set, echoed


def test_a_missing_site(emu: Emulator, web: WebSiteManagementClient) -> None:
    answer = served(web, "GET", f"{APPS}/providers/Microsoft.Web/sites/delete-me", WEB_API)
    same_shape("error_404_site.json", 0, answer, ["error.code", "error.message"], [])
    assert answer[1]["error"]["code"] == "ResourceNotFound"


@pytest.mark.parametrize(
    ("recording", "suffix", "fields"),
    [
        ("pg_server_get.json", "", ["id", "name", "type", "location", "properties.fullyQualifiedDomainName"]),
        ("pg_admins_list.json", "/administrators", ["value"]),
    ],
)
def test_postgres_server_and_admins(
    emu: Emulator, web: WebSiteManagementClient, recording: str, suffix: str, fields: list[str]
) -> None:
    same_shape(recording, 0, served(web, "GET", PG_ORDERS + suffix, PG_API), fields, [])
