"""Microsoft.Web through the real WebSiteManagementClient."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web.models import ManagedServiceIdentity, SitePatchResource, StringDictionary, UserAssignedIdentity

from emulator import Emulator
from tests.emulator.emulator_estate import (
    BILLING_API,
    ORDERS_API,
    OTHER_ID,
    SHARED_ID,
    SHOP_WEB,
    STAGING,
    SUBSCRIPTION,
    TENANT,
    arm_options,
)


def recased(resource_id: str) -> str:
    """ARM answers user-assigned identity keys with `/resourcegroups/` (recorded-arm/site_get.json)."""
    return resource_id.replace("/resourceGroups/", "/resourcegroups/")


def _identity_patch(identity_type: str, user_assigned: dict[str, UserAssignedIdentity | None]) -> SitePatchResource:
    return SitePatchResource(
        identity=ManagedServiceIdentity(type=identity_type, user_assigned_identities=user_assigned or None)
    )


def test_get_site_deserializes_into_the_sdk_model(emu: Emulator, web: WebSiteManagementClient) -> None:
    site = web.web_apps.get("rg-apps", "billing-api")

    assert site.id == BILLING_API
    assert (site.name, site.type, site.kind, site.location) == (
        "billing-api",
        "Microsoft.Web/sites",
        "app,linux",
        "West Europe",
    )
    assert site.identity.type == "SystemAssigned, UserAssigned"
    assert site.identity.tenant_id == TENANT
    assert site.identity.principal_id == emu.identity_of(BILLING_API)[0]
    assert list(site.identity.user_assigned_identities) == [recased(SHARED_ID)]
    assert site.identity.user_assigned_identities[recased(SHARED_ID)].client_id
    assert site.state == "Running"
    assert site.default_host_name == "billing-api.azurewebsites.net"
    assert site.site_config.linux_fx_version == "PYTHON|3.12"


def test_ids_are_case_insensitive_and_answers_carry_the_canonical_casing(web: WebSiteManagementClient) -> None:
    site = web.web_apps.get("RG-APPS", "Shop-Web")

    assert site.id == SHOP_WEB
    assert site.name == "shop-web"
    assert site.identity is None


def test_get_slot(web: WebSiteManagementClient) -> None:
    slot = web.web_apps.get_slot("rg-apps", "shop-web", "staging")

    assert (slot.id, slot.name, slot.type) == (STAGING, "shop-web/staging", "Microsoft.Web/sites/slots")
    assert slot.tags == {"passwordless": "orders:reader"}
    assert slot.default_host_name == "shop-web-staging.azurewebsites.net"


def test_enabling_the_system_identity_keeps_the_user_assigned_one(emu: Emulator, web: WebSiteManagementClient) -> None:
    site = web.web_apps.update(
        "rg-apps", "orders-api", _identity_patch("SystemAssigned, UserAssigned", {SHARED_ID: UserAssignedIdentity()})
    )

    assert site.identity.type == "SystemAssigned, UserAssigned"
    assert site.identity.principal_id == emu.identity_of(ORDERS_API)[0]
    assert list(site.identity.user_assigned_identities) == [recased(SHARED_ID)]


def test_a_patch_naming_only_the_system_identity_detaches_user_assigned_ones(web: WebSiteManagementClient) -> None:
    site = web.web_apps.update("rg-apps", "orders-api", _identity_patch("SystemAssigned", {}))

    assert site.identity.type == "SystemAssigned"
    assert site.identity.user_assigned_identities is None


def test_a_null_entry_detaches_one_user_assigned_identity_and_absent_ones_stay(
    emu: Emulator, web: WebSiteManagementClient
) -> None:
    principal_before = emu.identity_of(BILLING_API)

    site = web.web_apps.update(
        "rg-apps",
        "billing-api",
        _identity_patch("SystemAssigned, UserAssigned", {OTHER_ID: UserAssignedIdentity(), SHARED_ID: None}),
    )
    assert list(site.identity.user_assigned_identities) == [recased(OTHER_ID)]
    assert emu.identity_of(BILLING_API) == principal_before

    site = web.web_apps.update(
        "rg-apps", "billing-api", _identity_patch("UserAssigned", {SHARED_ID: UserAssignedIdentity()})
    )
    assert site.identity.type == "UserAssigned"
    assert sorted(site.identity.user_assigned_identities) == sorted([recased(OTHER_ID), recased(SHARED_ID)])
    assert emu.identity_of(BILLING_API) is None


def test_re_enabling_the_system_identity_mints_a_new_principal(emu: Emulator, web: WebSiteManagementClient) -> None:
    original = emu.identity_of(BILLING_API)

    assert web.web_apps.update("rg-apps", "billing-api", _identity_patch("None", {})).identity is None
    assert emu.identity_of(BILLING_API) is None
    site = web.web_apps.update("rg-apps", "billing-api", _identity_patch("SystemAssigned", {}))

    renewed = emu.identity_of(BILLING_API)
    assert renewed is not None and renewed[0] == site.identity.principal_id
    assert original is not None and renewed[0] != original[0] and renewed[1] != original[1]


def test_a_rejected_patch_changes_nothing(emu: Emulator, web: WebSiteManagementClient) -> None:
    before = emu.site(SHOP_WEB)
    unknown = SHARED_ID.replace("shared-id", "missing-id")

    with pytest.raises(HttpResponseError) as raised:
        web.web_apps.update("rg-apps", "shop-web", _identity_patch("UserAssigned", {unknown: UserAssignedIdentity()}))

    assert raised.value.status_code == 400
    assert raised.value.error.code == "InvalidIdentity"
    assert emu.site(SHOP_WEB) == before


def test_tags_in_a_patch_replace_the_tags(emu: Emulator, web: WebSiteManagementClient) -> None:
    web.web_apps.update("rg-apps", "shop-web", SitePatchResource({"tags": {"team": "shop"}}))

    assert emu.site(SHOP_WEB)["tags"] == {"team": "shop"}


def test_app_settings_are_listed_and_a_put_replaces_the_whole_dictionary(
    emu: Emulator, web: WebSiteManagementClient
) -> None:
    listed = web.web_apps.list_application_settings("rg-apps", "shop-web")
    assert (listed.id, listed.name, listed.type) == (
        f"{SHOP_WEB}/config/appsettings",
        "appsettings",
        "Microsoft.Web/sites/config",
    )
    assert listed.properties == {"EXISTING": "keep-me"}

    written = web.web_apps.update_application_settings("rg-apps", "shop-web", StringDictionary(properties={"NEW": "1"}))

    assert written.properties == {"NEW": "1"}
    assert web.web_apps.list_application_settings("rg-apps", "shop-web").properties == {"NEW": "1"}
    assert emu.app_settings(STAGING) == {}


def test_slot_app_settings_are_their_own(emu: Emulator, web: WebSiteManagementClient) -> None:
    web.web_apps.update_application_settings_slot(
        "rg-apps", "shop-web", "staging", StringDictionary(properties={"SLOT": "yes"})
    )

    listed = web.web_apps.list_application_settings_slot("rg-apps", "shop-web", "staging")
    assert (listed.type, listed.properties) == ("Microsoft.Web/sites/slots/config", {"SLOT": "yes"})
    assert emu.app_settings(SHOP_WEB) == {"EXISTING": "keep-me"}


def test_listing_sites_follows_next_links(emu: Emulator, web: WebSiteManagementClient) -> None:
    created = {emu.create_site(SUBSCRIPTION, "rg-many", f"app-{i:03}") for i in range(60)}
    emu.clear_requests()

    listed = {site.id for site in web.web_apps.list()}

    assert created < listed
    assert len(listed) == 64  # the 60 plus the estate's 4 in this subscription; slots are not sites
    pages = [r for r in emu.requests if r.path.endswith("/providers/Microsoft.Web/sites")]
    assert [r.status for r in pages] == [200, 200]


def test_listing_slots(web: WebSiteManagementClient) -> None:
    assert [slot.id for slot in web.web_apps.list_slots("rg-apps", "shop-web")] == [STAGING]
    assert list(web.web_apps.list_slots("rg-apps", "billing-api")) == []


def test_missing_resources_raise_the_sdk_exceptions_with_arm_codes(web: WebSiteManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as missing_site:
        web.web_apps.get("rg-apps", "no-such-app")
    with pytest.raises(ResourceNotFoundError) as missing_group:
        web.web_apps.get("rg-nowhere", "shop-web")
    with pytest.raises(ResourceNotFoundError) as missing_slot:
        web.web_apps.get_slot("rg-apps", "shop-web", "canary")

    assert missing_site.value.error.code == "ResourceNotFound"
    assert "Microsoft.Web/sites/no-such-app" in missing_site.value.error.message
    assert missing_group.value.error.code == "ResourceGroupNotFound"
    assert missing_slot.value.error.code == "ResourceNotFound"


def test_an_unsupported_api_version_is_rejected(emu: Emulator, credential: ManagedIdentityCredential) -> None:
    with (
        WebSiteManagementClient(credential, SUBSCRIPTION, api_version="2022-03-01", **arm_options(emu)) as old,
        pytest.raises(HttpResponseError) as raised,
    ):
        old.web_apps.get("rg-apps", "shop-web")

    assert raised.value.status_code == 400
    assert raised.value.error.code == "InvalidApiVersionParameter"
    assert "2025-05-01" in raised.value.error.message
