"""The managed-identity endpoint, the bearer check on ARM calls, and the request log."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError, DefaultAzureCredential, ManagedIdentityCredential
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web.models import StringDictionary

from emulator import Emulator
from tests.emulator.emulator_estate import (
    ARM_SCOPE,
    ESTATE,
    FUNCTION_CLIENT_ID,
    FUNCTION_OBJECT_ID,
    SHARED_ID,
    SHOP_WEB,
    SUBSCRIPTION,
    TENANT,
    arm_options,
)

POSTGRES_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _token_response(emu: Emulator, resource: str) -> requests.Response:
    with requests.Session() as session:
        return session.get(
            emu.identity_endpoint,
            params={"api-version": "2019-08-01", "resource": resource},
            headers={"X-IDENTITY-HEADER": emu.identity_header},
            verify=emu.ca_bundle,
        )


def _arm_get(emu: Emulator, path: str, token: str | None) -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    with requests.Session() as session:
        return session.get(
            f"{emu.arm_endpoint}{path}", params={"api-version": "2025-05-01"}, headers=headers, verify=emu.ca_bundle
        )


def test_the_managed_identity_token_is_the_function_identity(credential: ManagedIdentityCredential) -> None:
    claims = _claims(credential.get_token(ARM_SCOPE).token)

    assert (claims["oid"], claims["appid"], claims["tid"]) == (FUNCTION_OBJECT_ID, FUNCTION_CLIENT_ID, TENANT)
    assert claims["aud"].rstrip("/") == "https://management.azure.com"
    assert claims["exp"] > claims["iat"]


def test_a_client_id_selects_a_user_assigned_identity(msi: ManagedServiceIdentityClient) -> None:
    shared = msi.user_assigned_identities.get("rg-apps", "shared-id")

    with ManagedIdentityCredential(client_id=shared.client_id) as credential:
        claims = _claims(credential.get_token(ARM_SCOPE).token)

    assert (claims["oid"], claims["appid"]) == (shared.principal_id, shared.client_id)
    assert SHARED_ID.endswith(shared.name)


def test_default_azure_credential_works_unchanged(emu: Emulator, emulator_environment: None) -> None:
    with (
        DefaultAzureCredential() as credential,
        WebSiteManagementClient(credential, SUBSCRIPTION, **arm_options(emu)) as web,
    ):
        assert web.web_apps.get("rg-apps", "shop-web").id == SHOP_WEB


def test_a_wrong_identity_header_gets_no_token(emulator_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")

    with ManagedIdentityCredential() as credential, pytest.raises(CredentialUnavailableError):
        credential.get_token(ARM_SCOPE)


def test_arm_calls_need_a_token_this_emulator_issued(emu: Emulator, credential: ManagedIdentityCredential) -> None:
    token = credential.get_token(ARM_SCOPE).token
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    missing = _arm_get(emu, SHOP_WEB, None)
    invalid = _arm_get(emu, SHOP_WEB, forged)
    wrong_audience = _arm_get(emu, SHOP_WEB, credential.get_token(POSTGRES_SCOPE).token)

    assert [r.status_code for r in (missing, invalid, wrong_audience)] == [401, 401, 401]
    assert [r.json()["error"]["code"] for r in (missing, invalid, wrong_audience)] == [
        "AuthenticationFailed",
        "InvalidAuthenticationToken",
        "InvalidAuthenticationTokenAudience",
    ]
    assert _arm_get(emu, SHOP_WEB, token).status_code == 200


def test_an_unauthenticated_sdk_call_raises_client_authentication_error(
    emu: Emulator, emulator_environment: None
) -> None:
    class NoToken:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("not-a-token", 2**31)

    with (
        WebSiteManagementClient(NoToken(), SUBSCRIPTION, **arm_options(emu)) as web,  # type: ignore[arg-type]
        pytest.raises(ClientAuthenticationError),
    ):
        web.web_apps.get("rg-apps", "shop-web")


def test_requests_are_recorded_with_kind_and_caller(emu: Emulator, web: WebSiteManagementClient) -> None:
    web.web_apps.get("rg-apps", "shop-web")
    web.web_apps.list_application_settings("rg-apps", "shop-web")
    web.web_apps.update_application_settings("rg-apps", "shop-web", StringDictionary(properties={}))

    recorded = emu.requests
    assert [(r.method, r.kind, r.status) for r in recorded] == [
        ("GET", "token", 200),
        ("GET", "read", 200),
        ("POST", "action", 200),
        ("PUT", "write", 200),
    ]
    assert recorded[1].path == SHOP_WEB
    assert recorded[1].api_version == "2025-05-01"
    assert {r.caller_object_id for r in recorded[1:]} == {FUNCTION_OBJECT_ID}

    emu.clear_requests()
    assert emu.requests == []


def test_the_identity_endpoint_speaks_the_app_service_protocol(emu: Emulator) -> None:
    body = _token_response(emu, "https://management.azure.com").json()

    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert (body["resource"], body["token_type"], body["client_id"]) == (
        "https://management.azure.com",
        "Bearer",
        FUNCTION_CLIENT_ID,
    )
    assert int(body["expires_on"]) == _claims(body["access_token"])["exp"]
    assert emu.requests[-1].kind == "token"


def test_latency_delays_every_arm_call(tmp_path: Path) -> None:
    with Emulator.start(ESTATE, state_dir=tmp_path, latency_s=0.2) as slow:
        token = _token_response(slow, "https://management.azure.com").json()["access_token"]
        response = _arm_get(slow, SHOP_WEB, token)

    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.2
