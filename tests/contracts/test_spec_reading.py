"""How the official specs are read (`tests/contracts/swagger.py`), held two ways: the rules refuse what
they should in a request, and every real Azure answer recorded in `recorded-arm/` validates against the
schema of its operation — so the reading is neither vacuous nor stricter than Azure itself."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.replay import RECORDINGS, interactions
from tests.contracts.swagger import Operation, SpecLibrary, problems

LIBRARY = SpecLibrary()
SITE_PATCH = "Microsoft.Web/WebApps_Update"


def operation(name: str) -> Operation:
    (found,) = [op for op in LIBRARY.operations if op.name == name]
    return found


def recorded(method: str, path: str) -> Operation | None:
    """The spec operation of a recorded request, whatever api-version the recording used (older)."""
    matches = [op for op in LIBRARY.operations if op.method == method and op.pattern.fullmatch(path)]
    return max(matches, key=lambda op: op.literal_length, default=None)


def recorded_answers() -> list[tuple[str, Operation, dict[str, Any]]]:
    """Every recorded 200 of an operation the product calls (the CLI's own calls, a site PUT, are left)."""
    found = []
    for file in sorted(RECORDINGS.glob("*.json")):
        for interaction in interactions(file.name):
            spec = recorded(interaction["request"]["method"], interaction["request"]["path"])
            if interaction["response"]["status"] == 200 and spec is not None:
                found.append((file.name, spec, interaction))
    return found


@pytest.mark.parametrize(("recording", "spec", "interaction"), recorded_answers(), ids=lambda v: str(v)[:40])
def test_a_real_recorded_answer_validates_against_its_schema(recording: str, spec: Operation, interaction: Any) -> None:
    schema = LIBRARY.response_schema(spec, 200)
    assert schema is not None
    assert problems(schema, interaction["response"]["body"]) == [], f"{recording} ({spec.name})"


def test_every_product_operation_in_the_recordings_is_held() -> None:
    names = {spec.name for _, spec, _ in recorded_answers()}
    assert {
        "Microsoft.Web/WebApps_Get",
        "Microsoft.Web/WebApps_ListApplicationSettings",
        "Microsoft.Web/WebApps_UpdateApplicationSettings",
        "Microsoft.ResourceGraph/Resources",
        "Microsoft.DBforPostgreSQL/Servers_Get",
        "Microsoft.DBforPostgreSQL/AdministratorsMicrosoftEntra_ListByServer",
        "Microsoft.DBforMySQL/Servers_Get",
        "Microsoft.DBforMySQL/AzureADAdministrators_ListByServer",
    } <= names


def test_the_accepted_site_patch_azure_sends_is_not_what_the_spec_describes() -> None:
    """`site_patch_async.json`: App Service answers 202 with an EMPTY body where the spec declares a
    Site; the product follows the `Location` instead of parsing it (provisioning/azure/webapps.py)."""
    (accepted,) = [i for i in interactions("site_patch_async.json") if i["request"]["method"] == "PATCH"]
    assert accepted["response"]["status"] == 202 and accepted["response"]["body"] in ("", None)
    schema = LIBRARY.response_schema(operation(SITE_PATCH), 202)
    assert schema is not None and problems(schema, accepted["response"]["body"]) != []


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"identity": {"type": "SystemAssigned", "principalId": "0"}}, "identity/principalId"),  # readOnly
        ({"identity": {"type": "SystemAssigned"}, "properties": {"linuxFxVersion": "PYTHON|3.12"}}, "properties"),
        ({"identity": {"type": "SystemAssigned,UserAssigned"}}, "identity/type"),  # a closed enum
        ({"identity": {"type": "UserAssigned", "userAssignedIdentities": {"/x": {"clientId": "0"}}}}, "clientId"),
        ({"id": "/subscriptions/0"}, "id: a readOnly property"),
    ],
)
def test_a_request_body_outside_the_schema_is_refused(body: dict[str, Any], complaint: str) -> None:
    schema = LIBRARY.request_schema(operation(SITE_PATCH))
    assert schema is not None
    found = problems(schema, body)
    assert found and any(complaint in p for p in found), found


def test_what_the_product_patches_is_accepted() -> None:
    schema = LIBRARY.request_schema(operation(SITE_PATCH))
    assert schema is not None
    assert (
        problems(schema, {"identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {"/x": {}}}})
        == []
    )
    assert problems(schema, {"properties": {"keyVaultReferenceIdentity": "/x"}}) == []


def test_an_answer_may_carry_nulls_and_unknown_properties_but_not_wrong_types() -> None:
    schema = LIBRARY.response_schema(operation("Microsoft.Web/WebApps_Get"), 200)
    assert schema is not None
    assert problems(schema, {"location": "West Europe", "properties": {"state": None, "newField": 1}}) == []
    assert problems(schema, {"location": "West Europe", "properties": {"enabled": "yes"}}) != []
    assert problems(schema, {"properties": {}}) != []  # location is required (Resource)


def test_an_extensible_enum_takes_any_string() -> None:
    schema = LIBRARY.response_schema(
        operation("Microsoft.DBforPostgreSQL/AdministratorsMicrosoftEntra_ListByServer"), 200
    )
    assert schema is not None
    admin = {"properties": {"principalType": "SomethingNew", "objectId": "0"}}
    assert problems(schema, {"value": [admin]}) == []
    assert problems(schema, {"value": [{"name": "no properties"}]}) != []  # properties is required


def test_a_request_is_matched_to_the_most_specific_operation_of_its_api_version() -> None:
    subscription = "/subscriptions/0/providers/Microsoft.Authorization/roleAssignments"
    listed = LIBRARY.operation_for("GET", subscription, "2022-04-01")
    assert listed is not None and listed.name == "Microsoft.Authorization/RoleAssignments_ListForSubscription"
    scoped = LIBRARY.operation_for("GET", "/subscriptions/0/resourceGroups/g" + subscription[16:], "2022-04-01")
    assert scoped is not None and scoped.name == "Microsoft.Authorization/RoleAssignments_ListForScope"
    assert LIBRARY.operation_for("GET", subscription, "2020-01-01") is None  # another api-version: no spec here
