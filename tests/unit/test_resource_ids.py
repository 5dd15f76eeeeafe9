import pytest

from provisioning.errors import InvalidRequest
from provisioning.resource_ids import AppRef, is_within, parse_app_id, parse_resource_id

SITE = "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.Web/sites/shop"


def test_site_and_slot_ids_parse_in_any_case() -> None:
    assert parse_app_id(SITE.lower()).key == parse_app_id(SITE).key
    slot = parse_app_id(SITE + "/SLOTS/staging")
    assert slot == AppRef("S1", "RG", "shop", "staging")
    assert slot.display_name == "shop/staging"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "/subscriptions/S1",
        "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/x",
        "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.Web/sites/shop/config/web",
        "/subscription/S1/resourceGroups/RG/providers/Microsoft.Web/sites/shop",
        "/subscriptions//resourceGroups/RG/providers/Microsoft.Web/sites/shop",
    ],
)
def test_non_app_ids_are_refused_with_the_field_named(value: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_app_id(value, field="app")
    assert caught.value.field == "app"
    assert "app" in str(caught.value)


def test_scope_containment_is_by_whole_segments() -> None:
    assert is_within(SITE, "/subscriptions/s1/resourcegroups/rg")
    assert is_within(SITE, "/subscriptions/S1")
    assert not is_within(SITE, "/subscriptions/S1/resourceGroups/R")
    assert not is_within(
        "/subscriptions/S1/resourceGroups/RG-other/providers/Microsoft.Web/sites/x",
        "/subscriptions/S1/resourceGroups/RG",
    )


def test_resource_id_round_trips_and_types() -> None:
    rid = parse_resource_id("/subscriptions/S/resourceGroups/R/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg")
    assert rid.full_type == "microsoft.dbforpostgresql/flexibleservers"
    assert rid.names == ("pg",)
    assert parse_resource_id(rid.id) == rid
