"""Microsoft.ManagedIdentity through the real ManagedServiceIdentityClient."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.msi.models import Identity
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web.models import ManagedServiceIdentity, SitePatchResource

from emulator import Emulator
from tests.emulator.emulator_estate import BILLING_API, SHARED_ID, SHOP_WEB, STAGING, TENANT


def recased(resource_id: str) -> str:
    """ARM answers user-assigned identity keys with `/resourcegroups/` (recorded-arm/site_get.json)."""
    return resource_id.replace("/resourceGroups/", "/resourcegroups/")


def test_identities_default_gives_the_system_identity_client_id(
    emu: Emulator, msi: ManagedServiceIdentityClient
) -> None:
    identity = msi.system_assigned_identities.get_by_scope(scope=BILLING_API)

    assert (identity.id, identity.name, identity.type) == (
        f"{BILLING_API}/providers/Microsoft.ManagedIdentity/identities/default",
        "default",
        "Microsoft.ManagedIdentity/identities",
    )
    assert (identity.principal_id, identity.client_id) == emu.identity_of(BILLING_API)
    assert identity.tenant_id == TENANT
    assert identity.client_secret_url.startswith("https://")


def test_identities_default_is_missing_while_the_system_identity_is_off(
    emu: Emulator, msi: ManagedServiceIdentityClient
) -> None:
    with pytest.raises(ResourceNotFoundError):
        msi.system_assigned_identities.get_by_scope(scope=SHOP_WEB)

    emu.recreate_system_identity(SHOP_WEB)
    assert msi.system_assigned_identities.get_by_scope(scope=SHOP_WEB).client_id == emu.identity_of(SHOP_WEB)[1]


def test_identities_default_of_a_slot_enabled_through_a_patch(
    emu: Emulator, web: WebSiteManagementClient, msi: ManagedServiceIdentityClient
) -> None:
    slot = web.web_apps.update_slot(
        "rg-apps", "shop-web", "staging", SitePatchResource(identity=ManagedServiceIdentity(type="SystemAssigned"))
    )

    identity = msi.system_assigned_identities.get_by_scope(scope=STAGING)
    assert identity.principal_id == slot.identity.principal_id
    assert identity.client_id == emu.identity_of(STAGING)[1]
    assert emu.identity_of(SHOP_WEB) is None


def test_a_user_assigned_identity_reports_the_ids_the_site_shows(
    msi: ManagedServiceIdentityClient, web: WebSiteManagementClient
) -> None:
    identity = msi.user_assigned_identities.get("rg-apps", "shared-id")
    attached = web.web_apps.get("rg-apps", "billing-api").identity.user_assigned_identities[recased(SHARED_ID)]

    assert (identity.id, identity.type) == (SHARED_ID, "Microsoft.ManagedIdentity/userAssignedIdentities")
    assert (identity.principal_id, identity.client_id) == (attached.principal_id, attached.client_id)
    assert identity.tenant_id == TENANT


def test_creating_a_user_assigned_identity_mints_ids_once(emu: Emulator, msi: ManagedServiceIdentityClient) -> None:
    created = msi.user_assigned_identities.create_or_update("rg-apps", "new-id", Identity(location="westeurope"))
    again = msi.user_assigned_identities.create_or_update(
        "rg-apps", "new-id", Identity(location="westeurope", tags={"owner": "shop"})
    )

    assert created.client_id and created.principal_id and created.principal_id != created.client_id
    assert (again.principal_id, again.client_id, again.tags) == (
        created.principal_id,
        created.client_id,
        {"owner": "shop"},
    )
    assert msi.user_assigned_identities.get("rg-apps", "NEW-ID").id == created.id
    assert [r.status for r in emu.requests if r.method == "PUT"] == [201, 200]


def test_a_user_assigned_identity_needs_an_existing_group(msi: ManagedServiceIdentityClient) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        msi.user_assigned_identities.create_or_update("rg-nowhere", "new-id", Identity(location="westeurope"))

    assert raised.value.error.code == "ResourceGroupNotFound"
