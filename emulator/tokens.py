"""Managed-identity tokens: the App Service identity endpoint and the bearer check on ARM calls.

`azure-identity` (through MSAL) finds the App Service endpoint from `IDENTITY_ENDPOINT` and
`IDENTITY_HEADER`, so the product's unchanged `DefaultAzureCredential` gets its tokens here.
Tokens are JWT-shaped, so anything that reads claims works, and HMAC-signed with a secret of this
emulator instance: only this emulator has to trust them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from emulator.errors import ArmError
from emulator.estate import Estate, Principal, Site, key, new_uuid
from emulator.server import ArmRequest, ArmResponse, Route

TOKEN_PATH = "/msi/token"
IDENTITY_API_VERSION = "2019-08-01"
ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
LIFETIME_S = 24 * 3600  # what App Service hands out for a managed identity


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_JWT_HEADER = _b64(b'{"alg":"HS256","typ":"JWT"}')


class TokenIssuer:
    """Mints and checks this emulator's access tokens."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.identity_header = secrets.token_urlsafe(24)
        self._secret = secrets.token_bytes(32)

    def site_header(self, site_id: str) -> str:
        """The `IDENTITY_HEADER` App Service gives one app: each app reaches only its own identities."""
        return hmac.new(self._secret, key(site_id).encode(), hashlib.sha256).hexdigest()

    def claims_for(self, principal: Principal, audience: str) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + LIFETIME_S,
            "oid": principal.object_id,
            "sub": principal.object_id,
            "appid": principal.client_id,
            "tid": self.tenant_id,
            "uti": new_uuid(),
            "ver": "1.0",
        }
        if principal.name:
            claims["name"] = principal.name
        return claims

    def issue(self, principal: Principal, audience: str) -> tuple[str, int]:
        """(token, expires_on epoch seconds)."""
        claims = self.claims_for(principal, audience)
        signing_input = f"{_JWT_HEADER}.{_b64(json.dumps(claims).encode())}"
        signature = hmac.new(self._secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}", claims["exp"]

    def verify(self, authorization: str | None, *, audiences: tuple[str, ...] = ARM_AUDIENCES) -> dict[str, Any]:
        """The claims of a valid `Bearer` token for one of `audiences` (ARM's by default), or a 401."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        try:
            header, payload, signature = token.split(".")
            expected = hmac.new(self._secret, f"{header}.{payload}".encode("ascii"), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                raise ValueError("bad signature")
            claims: dict[str, Any] = json.loads(_unb64(payload))
        except (ValueError, binascii.Error, UnicodeEncodeError) as error:
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.") from error
        if claims["exp"] < time.time():
            raise ArmError(401, "ExpiredAuthenticationToken", "The access token has expired.")
        if str(claims["aud"]).rstrip("/") not in audiences:
            raise ArmError(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{claims['aud']}'.",
            )
        return claims


class IdentityEndpoint:
    """`GET /msi/token`: the App Service managed-identity protocol (api-version 2019-08-01).

    Without `client_id` the token is the function app's own identity; with one, the user-assigned
    identity of the estate holding that client id. Errors use the endpoint's own `{statusCode,
    message}` shape, which MSAL reads.
    """

    def __init__(self, estate: Estate, issuer: TokenIssuer) -> None:
        self._estate = estate
        self._issuer = issuer

    def routes(self) -> list[Route]:
        return [Route("GET", TOKEN_PATH, self.get_token, kind="token", authenticated=False)]

    def get_token(self, request: ArmRequest) -> ArmResponse:
        header = request.headers.get("x-identity-header")
        site = None
        if header != self._issuer.identity_header:
            site = self._site_for(header)
            if site is None:
                return _failure(401, "The X-IDENTITY-HEADER header is missing or wrong.")
        if request.query.get("api-version") != IDENTITY_API_VERSION:
            return _failure(400, f"api-version must be {IDENTITY_API_VERSION}.")
        resource = request.query.get("resource")
        if not resource:
            return _failure(400, "The 'resource' parameter is required.")
        client_id = request.query.get("client_id")
        principal = self._principal(client_id) if site is None else self._site_principal(site, client_id)
        if principal is None:
            return _failure(400, "No managed identity with that client_id is assigned to this app.")
        token, expires_on = self._issuer.issue(principal, resource)
        return ArmResponse(
            200,
            {
                "access_token": token,
                "expires_on": str(expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": principal.client_id,
            },
        )

    def _site_for(self, header: str | None) -> Site | None:
        with self._estate.lock:
            return next((s for s in self._estate.sites.values() if self._issuer.site_header(s.id) == header), None)

    def _site_principal(self, site: Site, client_id: str | None) -> Principal | None:
        """An app's own identities: its system identity, or a user-assigned one attached to it."""
        with self._estate.lock:
            if client_id is None:
                return site.system_identity
            for identity_id in site.user_identities:
                identity = self._estate.user_identities.get(key(identity_id))
                if identity is not None and key(identity.principal.client_id) == key(client_id):
                    return identity.principal
        return None

    def _principal(self, client_id: str | None) -> Principal | None:
        function = self._estate.function_identity
        if client_id is None or key(client_id) == key(function.client_id):
            return function
        with self._estate.lock:
            for identity in self._estate.user_identities.values():
                if key(identity.principal.client_id) == key(client_id):
                    return identity.principal
        return None


def _failure(status: int, message: str) -> ArmResponse:
    return ArmResponse(status, {"statusCode": status, "message": message})
