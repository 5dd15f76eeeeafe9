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
    needs it.

    - Tag keys are case-sensitive in ``tags['key']``, and Azure keeps the case the user typed; the
      official Resource Graph samples match a tag name case-insensitively with ``mv-expand
      bagexpansion=array`` and ``tags[0] =~ 'key'`` (Microsoft Learn, Resource Graph samples, "storage
      accounts with a specific case-insensitive tag"). One row per app: tag names are unique
      case-insensitively on a resource.
    - A site row carries no ``siteConfig`` (App Service keeps site configuration at ``config/web``);
      the stack is ``linuxFxVersion`` of the ``config/web`` row in ``appserviceresources`` (Microsoft
      Learn, "Azure Resource Graph table and resource type reference"), joined on the app's id — one
      cross-table join, within Resource Graph's limit of one.
    """
    key = tag.replace("'", "").replace("\\", "")
    return (
        "resources"
        " | where type in~ ('microsoft.web/sites', 'microsoft.web/sites/slots')"
        " | mv-expand bagexpansion=array tag = tags"
        f" | where tostring(tag[0]) =~ '{key}'"
        " | extend siteId = tolower(id)"
        " | join kind=leftouter ("
        "appserviceresources"
        " | where type in~ ('microsoft.web/sites/config/web', 'microsoft.web/sites/slots/config/web')"
        " | project siteId = replace_string(tolower(id), '/config/web', ''),"
        " linuxFxVersion = tostring(properties.linuxFxVersion)"
        ") on siteId"
        " | project id, type, location, tags, identity, linuxFxVersion"
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
