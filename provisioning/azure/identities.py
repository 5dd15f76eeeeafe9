"""Managed identities: ids of system and user-assigned identities, from ARM (no Microsoft Graph call)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provisioning.azure.arm import ClientsBySubscription, azure_errors, client_options
from provisioning.config import Config
from provisioning.errors import InvalidRequest
from provisioning.models import UserAssignedIdentity
from provisioning.resource_ids import AppRef, parse_resource_id

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# Tag names are case-insensitive and values hold at most 256 characters (Microsoft Learn, "Use tags to
# organize your Azure resources": tag limitations).
OWNER_TAG = "passwordless-owner"
TAG_VALUE_LIMIT = 256


class Identities:
    def __init__(self, credential: TokenCredential, config: Config) -> None:
        def build(subscription: str) -> Any:
            from azure.mgmt.msi import ManagedServiceIdentityClient

            return ManagedServiceIdentityClient(credential, subscription, **client_options(config))

        self._clients = ClientsBySubscription(build)

    def get_system_client_id(self, app: AppRef) -> str:
        """``{app}/providers/Microsoft.ManagedIdentity/identities/default`` carries the client id."""
        with azure_errors(f"read the system identity of {app.id}"):
            identity = self._clients.get(app.subscription).system_assigned_identities.get_by_scope(scope=app.id)
        return str(identity.client_id).lower()

    def get_user_identity(self, identity_id: str) -> UserAssignedIdentity:
        """The ids of a user-assigned identity; ``NotFound`` when it does not exist."""
        rid = parse_resource_id(identity_id, field="identity")
        client = self._clients.get(rid.subscription)
        with azure_errors(f"read user-assigned identity {identity_id}"):
            found = client.user_assigned_identities.get(rid.resource_group, rid.names[0])
        return _ids(found)

    def create_user_identity(self, identity_id: str, location: str, *, owner: str) -> UserAssignedIdentity:
        """Create it tagged ``passwordless-owner = <owner app id>`` (ARM answers with the new object and
        client ids), so no other app can adopt it through ``create:<name>``. The planner creates only an
        identity it observed absent; a PUT replaces the tags of one that appeared in between (the race
        docs/permissions.md names)."""
        from azure.mgmt.msi.models import Identity

        if len(owner) > TAG_VALUE_LIMIT:
            raise InvalidRequest(
                f"the app id {owner} is longer than a tag value may be ({TAG_VALUE_LIMIT}): "
                "use a user-assigned identity offered by the catalog instead of create:<name>",
                field="identity",
            )
        rid = parse_resource_id(identity_id, field="identity")
        client = self._clients.get(rid.subscription)
        with azure_errors(f"create user-assigned identity {identity_id}"):
            created = client.user_assigned_identities.create_or_update(
                rid.resource_group, rid.names[0], Identity(location=location, tags={OWNER_TAG: owner})
            )
        return _ids(created)


def _ids(identity: Any) -> UserAssignedIdentity:
    tags = {str(k).lower(): str(v) for k, v in (identity.tags or {}).items()}
    return UserAssignedIdentity(
        principal_id=str(identity.principal_id).lower(),
        client_id=str(identity.client_id).lower(),
        owner=tags.get(OWNER_TAG),
    )
