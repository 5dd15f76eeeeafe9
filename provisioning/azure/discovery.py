"""Find every tagged site and slot with one Azure Resource Graph query, paged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import azure_errors, client_options
from provisioning.config import Config
from provisioning.models import SiteState, UserAssignedIdentity
from provisioning.resource_ids import parse_app_id

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

PAGE_SIZE = 1000


def tagged_apps_query(tag: str) -> str:
    """KQL for sites and slots carrying the request tag, with what planning needs besides settings
    (tags, identities, stack), so the audit reads no site one by one. ``id`` is projected: paging
    needs it."""
    key = tag.replace("'", "")
    return (
        "resources"
        " | where type in~ ('microsoft.web/sites', 'microsoft.web/sites/slots')"
        f" | where isnotempty(tags['{key}'])"
        " | project id, type, location, tags, identity,"
        " linuxFxVersion = tostring(properties.siteConfig.linuxFxVersion)"
    )


class Discovery:
    def __init__(self, credential: TokenCredential, config: Config) -> None:
        self._credential = credential
        self._config = config

    def list_tagged_apps(self) -> Iterator[SiteState]:
        """Every tagged site and slot as Resource Graph sees it (app settings are not in the graph)."""
        for row in self.rows(tagged_apps_query(self._config.tag_prefix)):
            yield site_from_row(row)

    def rows(self, query: str) -> Iterator[dict[str, Any]]:
        """The rows of a Resource Graph query, page after page (``$skipToken``), fetched as consumed."""
        from azure.mgmt.resourcegraph import ResourceGraphClient
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        client: Any = ResourceGraphClient(self._credential, **client_options(self._config))
        skip_token: str | None = None
        while True:
            request = QueryRequest(
                subscriptions=list(self._config.subscriptions) or None,
                query=query,
                options=QueryRequestOptions(top=PAGE_SIZE, skip_token=skip_token, result_format="objectArray"),
            )
            with azure_errors("query Azure Resource Graph"):
                page = client.resources(request)
            yield from page.data or []
            skip_token = page.skip_token
            if not skip_token:
                return


def site_from_row(row: dict[str, Any]) -> SiteState:
    app = parse_app_id(row["id"], field="resource graph row id")
    identity = row.get("identity") or {}
    kind = str(identity.get("type") or "").lower().replace(" ", "")
    user_assigned = {
        rid: UserAssignedIdentity(str(ids.get("principalId") or "").lower(), str(ids.get("clientId") or "").lower())
        for rid, ids in (identity.get("userAssignedIdentities") or {}).items()
    }
    principal = identity.get("principalId") if "systemassigned" in kind else None
    return SiteState(
        app=app,
        tags=dict(row.get("tags") or {}),
        linux_fx_version=str(row.get("linuxFxVersion") or ""),
        system_principal_id=str(principal).lower() if principal else None,
        user_assigned=user_assigned,
        app_settings={},
        location=str(row.get("location") or ""),
    )
