"""Sites and slots: read state, enable the system identity, merge app settings."""

from __future__ import annotations

import contextvars
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import ClientsBySubscription, azure_errors, client_options
from provisioning.config import Config
from provisioning.errors import TransientError
from provisioning.models import SiteState, UserAssignedIdentity
from provisioning.plan import SetAppSettings
from provisioning.resource_ids import AppRef

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


ACCEPTED_POLLS = 15  # an accepted PATCH is followed for up to 15 polls (30 s at the default interval)


class WebApps:
    """One management client per subscription, created on first use.

    ``poll_interval_s`` is how long to wait between polls of an accepted (202) site PATCH when App
    Service names no ``Retry-After``, as ``polling_interval`` is for the SDK's own pollers.
    """

    def __init__(self, credential: TokenCredential, config: Config, *, poll_interval_s: float = 2.0) -> None:
        def build(subscription: str) -> Any:
            from azure.mgmt.web import WebSiteManagementClient

            return WebSiteManagementClient(credential, subscription, **client_options(config))

        self._clients = ClientsBySubscription(build)
        self._poll_interval_s = poll_interval_s

    def _client(self, subscription: str) -> Any:
        return self._clients.get(subscription)

    def get_site(self, app: AppRef) -> SiteState:
        """The site (or slot) and its app settings: two ARM reads that need nothing from each other,
        so they are sent side by side (a reconcile waits one round trip for both, not two)."""
        with ThreadPoolExecutor(1) as pool:
            settings = pool.submit(contextvars.copy_context().run, self.list_settings, app)  # keeps the correlation id
            site = self.read_site(app)
            return replace(site, app_settings=settings.result())

    def read_site(self, app: AppRef) -> SiteState:
        """The site (or slot) alone, without its app settings: one ARM read."""
        with azure_errors(f"read {app.id}"):
            site = self._get(app)
        return _site_state(app, site, {})

    def _get(self, app: AppRef) -> Any:
        client = self._client(app.subscription).web_apps
        return (
            client.get_slot(app.resource_group, app.site, app.slot)
            if app.slot
            else client.get(app.resource_group, app.site)
        )

    def list_settings(self, app: AppRef) -> dict[str, str]:
        """POST ``config/appsettings/list``: ARM charges it to the write bucket, so spend it with care."""
        client = self._client(app.subscription).web_apps
        with azure_errors(f"read the app settings of {app.id}"):
            if app.slot:
                settings = client.list_application_settings_slot(app.resource_group, app.site, app.slot)
            else:
                settings = client.list_application_settings(app.resource_group, app.site)
        return dict(settings.properties or {})

    def update_identities(self, site: SiteState, *, system: bool, user_assigned: tuple[str, ...]) -> SiteState:
        """PATCH the identity with the full set, so nothing attached is dropped; return the new state.

        ARM's answer carries the ids of every identity now attached; the settings are unchanged.
        """
        from azure.mgmt.web.models import ManagedServiceIdentity, SitePatchResource, UserAssignedIdentity

        kinds = (["SystemAssigned"] if system else []) + (["UserAssigned"] if user_assigned else [])
        identity = ManagedServiceIdentity(
            type=", ".join(kinds) or "None",
            user_assigned_identities={rid: UserAssignedIdentity() for rid in user_assigned} or None,
        )
        app = site.app
        patched = self._patch(app, SitePatchResource(identity=identity))
        updated = _site_state(app, patched, site.app_settings)
        if system and updated.system_principal_id is None:
            raise TransientError(f"ARM enabled the identity of {app.id} but returned no principal id yet")
        return updated

    def _patch(self, app: AppRef, envelope: Any) -> Any:
        """PATCH the site and return it as it now is.

        App Service may answer a site PATCH ``202 Accepted`` with an EMPTY body and a ``Location`` to
        poll, the poll answering 202 (empty) again while in progress (recorded for a Container-Apps
        hosted function app: ``recorded-arm/site_patch_async.json``). The SDK's ``update`` parses
        every 200/202 body as a site, so the raw answer is taken here: a 202 is followed to its end,
        then the site is read.
        """
        client = self._client(app.subscription).web_apps

        def raw(pipeline_response: Any, deserialized: Any, headers: Any) -> Any:
            return pipeline_response.http_response

        with azure_errors(f"set the identities of {app.id}"):
            if app.slot:
                response = client.update_slot(app.resource_group, app.site, app.slot, envelope, stream=True, cls=raw)
            else:
                response = client.update(app.resource_group, app.site, envelope, stream=True, cls=raw)
            body = response.read()
        if response.status_code == 202 or not body.strip():
            self._follow_accepted(app, response)
            with azure_errors(f"read {app.id}"):
                return (
                    client.get_slot(app.resource_group, app.site, app.slot)
                    if app.slot
                    else client.get(app.resource_group, app.site)
                )
        from azure.mgmt.web.models import Site

        return Site(json.loads(body))

    def _follow_accepted(self, app: AppRef, accepted: Any) -> None:
        """Poll an accepted operation's ``Location`` until it stops answering 202."""
        from azure.core.rest import HttpRequest

        location = accepted.headers.get("Location") or accepted.headers.get("Azure-AsyncOperation")
        answer = accepted
        for _ in range(ACCEPTED_POLLS):
            if not location:
                return
            time.sleep(_retry_after(answer) or self._poll_interval_s)
            with azure_errors(f"follow the identity change of {app.id}"):
                answer = self._client(app.subscription).send_request(HttpRequest("GET", location))
                answer.read()
                answer.raise_for_status()
            if answer.status_code != 202:
                return
            location = answer.headers.get("Location") or location
        raise TransientError(f"App Service accepted the identity change of {app.id} but has not finished it yet")

    def set_key_vault_reference_identity(self, app: AppRef, identity_id: str) -> None:
        """PATCH ``keyVaultReferenceIdentity``: the identity App Service resolves Key Vault references with."""
        from azure.mgmt.web.models import SitePatchResource, SitePatchResourceProperties

        self._patch(
            app, SitePatchResource(properties=SitePatchResourceProperties(key_vault_reference_identity=identity_id))
        )

    def write_settings(self, app: AppRef, current: dict[str, str], step: SetAppSettings) -> None:
        """Merge onto ``current`` and PUT the whole dictionary (ARM replaces it; there is no ETag)."""
        from azure.mgmt.web.models import StringDictionary

        merged = {k: v for k, v in current.items() if k not in step.remove}
        merged.update(dict(step.set))
        client = self._client(app.subscription).web_apps
        with azure_errors(f"write the app settings of {app.id}"):
            if app.slot:
                client.update_application_settings_slot(
                    app.resource_group, app.site, app.slot, StringDictionary(properties=merged)
                )
            else:
                client.update_application_settings(app.resource_group, app.site, StringDictionary(properties=merged))


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _site_state(app: AppRef, site: Any, settings: dict[str, str]) -> SiteState:
    identity = site.identity
    kind = getattr(identity.type, "value", identity.type) if identity else None  # enum or plain string
    system_on = "systemassigned" in str(kind or "").lower().replace(" ", "")
    system_id = identity.principal_id if identity and system_on else None
    user_assigned = {}
    if identity and identity.user_assigned_identities:
        for rid, value in identity.user_assigned_identities.items():
            user_assigned[rid] = UserAssignedIdentity(
                principal_id=str(value.principal_id or "").lower(), client_id=str(value.client_id or "").lower()
            )
    site_config = site.site_config
    return SiteState(
        app=app,
        tags=dict(site.tags or {}),
        linux_fx_version=(site_config.linux_fx_version or "") if site_config else "",
        system_principal_id=str(system_id).lower() if system_id else None,
        user_assigned=user_assigned,
        app_settings=settings,
        location=str(site.location or ""),
        key_vault_reference_identity=getattr(site, "key_vault_reference_identity", None),
    )
