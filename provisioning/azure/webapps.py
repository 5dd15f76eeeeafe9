"""Sites and slots: read state, enable the system identity, merge app settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import ClientsBySubscription, azure_errors, client_options
from provisioning.config import Config
from provisioning.errors import TransientError
from provisioning.models import SiteState, UserAssignedIdentity
from provisioning.plan import SetAppSettings
from provisioning.resource_ids import AppRef

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


class WebApps:
    """One management client per subscription, created on first use."""

    def __init__(self, credential: TokenCredential, config: Config) -> None:
        def build(subscription: str) -> Any:
            from azure.mgmt.web import WebSiteManagementClient

            return WebSiteManagementClient(credential, subscription, **client_options(config))

        self._clients = ClientsBySubscription(build)

    def _client(self, subscription: str) -> Any:
        return self._clients.get(subscription)

    def get_site(self, app: AppRef) -> SiteState:
        """The site (or slot) and its app settings: two ARM reads."""
        client = self._client(app.subscription).web_apps
        with azure_errors(f"read {app.id}"):
            site = (
                client.get_slot(app.resource_group, app.site, app.slot)
                if app.slot
                else client.get(app.resource_group, app.site)
            )
        return _site_state(app, site, self.list_settings(app))

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
        client = self._client(app.subscription).web_apps
        with azure_errors(f"set the identities of {app.id}"):
            if app.slot:
                patched = client.update_slot(
                    app.resource_group, app.site, app.slot, SitePatchResource(identity=identity)
                )
            else:
                patched = client.update(app.resource_group, app.site, SitePatchResource(identity=identity))
        updated = _site_state(app, patched, site.app_settings)
        if system and updated.system_principal_id is None:
            raise TransientError(f"ARM enabled the identity of {app.id} but returned no principal id yet")
        return updated

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
    )
