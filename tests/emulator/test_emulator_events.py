"""Event Grid events for ARM writes and control-surface changes."""

from __future__ import annotations

from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient
from azure.mgmt.web import WebSiteManagementClient
from azure.mgmt.web.models import ManagedServiceIdentity, SitePatchResource, StringDictionary

from emulator import Emulator
from emulator.control import HUMAN_USER
from emulator.events import to_cloud_event
from tests.emulator.emulator_estate import (
    FUNCTION_CLIENT_ID,
    FUNCTION_OBJECT_ID,
    PG_ORDERS,
    SHOP_WEB,
    STAGING,
    SUBSCRIPTION,
    TENANT,
)

OBJECT_ID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
# The keys of the official samples (Azure REST API specs, Microsoft.Resources system topic).
EVENT_GRID_KEYS = {"subject", "eventType", "eventTime", "id", "data", "dataVersion", "metadataVersion", "topic"}
CLOUD_EVENT_KEYS = {"source", "subject", "type", "time", "id", "data", "specversion"}
DATA_KEYS = {
    "authorization",
    "claims",
    "correlationId",
    "resourceProvider",
    "resourceUri",
    "operationName",
    "status",
    "subscriptionId",
    "tenantId",
}


def test_a_product_write_is_an_event_carrying_the_function_identity(
    emu: Emulator, web: WebSiteManagementClient
) -> None:
    web.web_apps.update(
        "rg-apps", "shop-web", SitePatchResource(identity=ManagedServiceIdentity(type="SystemAssigned"))
    )

    [event] = emu.events
    assert set(event) == EVENT_GRID_KEYS
    assert set(event["data"]) == DATA_KEYS
    assert (event["eventType"], event["subject"], event["topic"]) == (
        "Microsoft.Resources.ResourceWriteSuccess",
        SHOP_WEB,
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-apps",
    )
    assert (event["dataVersion"], event["metadataVersion"]) == ("2", "1")
    data = event["data"]
    assert (data["resourceUri"], data["operationName"], data["status"]) == (
        SHOP_WEB,
        "Microsoft.Web/sites/write",
        "Succeeded",
    )
    assert (data["subscriptionId"], data["tenantId"], data["resourceProvider"]) == (
        SUBSCRIPTION,
        TENANT,
        "Microsoft.Web",
    )
    assert data["claims"]["appid"] == FUNCTION_CLIENT_ID
    assert data["claims"][OBJECT_ID_CLAIM] == FUNCTION_OBJECT_ID
    assert event["eventTime"].endswith("Z")


def test_settings_and_administrator_writes_name_their_own_resources(
    emu: Emulator, web: WebSiteManagementClient, postgres: PostgreSQLManagementClient
) -> None:
    web.web_apps.update_application_settings("rg-apps", "shop-web", StringDictionary(properties={"A": "1"}))
    web.web_apps.update_application_settings_slot("rg-apps", "shop-web", "staging", StringDictionary(properties={}))
    postgres.administrators_microsoft_entra.begin_delete(
        "rg-data", "pg-orders", FUNCTION_OBJECT_ID, polling_interval=0.01
    ).result()

    assert [(e["data"]["resourceUri"], e["data"]["operationName"], e["eventType"]) for e in emu.events] == [
        (
            f"{SHOP_WEB}/config/appsettings",
            "Microsoft.Web/sites/config/write",
            "Microsoft.Resources.ResourceWriteSuccess",
        ),
        (
            f"{STAGING}/config/appsettings",
            "Microsoft.Web/sites/slots/config/write",
            "Microsoft.Resources.ResourceWriteSuccess",
        ),
        (
            f"{PG_ORDERS}/administrators/{FUNCTION_OBJECT_ID}",
            "Microsoft.DBforPostgreSQL/flexibleServers/administrators/delete",
            "Microsoft.Resources.ResourceDeleteSuccess",
        ),
    ]


def test_control_surface_changes_are_events_of_a_person(emu: Emulator) -> None:
    site_id = emu.create_site(SUBSCRIPTION, "rg-new", "new-app", tags={"passwordless": "orders:reader"})
    emu.set_tags(site_id, {"passwordless": "orders:writer"})
    emu.delete_site(site_id)

    created, tagged, deleted = emu.events
    assert created["data"]["operationName"] == "Microsoft.Web/sites/write"
    tags_id = f"{site_id}/providers/Microsoft.Resources/tags/default"
    assert (tagged["subject"], tagged["data"]["resourceUri"], tagged["data"]["operationName"]) == (
        tags_id,
        tags_id,
        "Microsoft.Resources/tags/write",
    )
    assert deleted["eventType"] == "Microsoft.Resources.ResourceDeleteSuccess"
    assert deleted["data"]["httpRequest"]["method"] == "DELETE"
    assert {e["data"]["claims"][OBJECT_ID_CLAIM] for e in emu.events} == {HUMAN_USER.object_id}
    assert {e["data"]["claims"]["appid"] for e in emu.events} == {HUMAN_USER.client_id}
    assert len({e["id"] for e in emu.events}) == 3


def test_events_convert_to_cloud_events(emu: Emulator) -> None:
    emu.set_app_setting(SHOP_WEB, "EXTRA", "1")
    [event] = emu.events

    cloud_event = to_cloud_event(event)

    assert set(cloud_event) == CLOUD_EVENT_KEYS
    assert (
        cloud_event["source"],
        cloud_event["subject"],
        cloud_event["type"],
        cloud_event["time"],
        cloud_event["id"],
    ) == (event["topic"], event["subject"], event["eventType"], event["eventTime"], event["id"])
    assert (cloud_event["specversion"], cloud_event["data"]) == ("1.0", event["data"])


def test_the_event_list_is_a_copy_and_can_be_cleared(emu: Emulator) -> None:
    emu.set_app_setting(SHOP_WEB, "EXTRA", None)
    emu.events[0]["subject"] = "changed by the caller"

    assert emu.events[0]["subject"] == f"{SHOP_WEB}/config/appsettings"
    emu.clear_events()
    assert emu.events == []
