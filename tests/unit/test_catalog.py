import pytest

from provisioning.catalog import catalog_from_document, parse_catalog
from provisioning.errors import InvalidRequest
from provisioning.models import Engine, Privilege, TlsMode
from tests.factories import RG, SERVER_ID, SUB, catalog

YAML = f"""
profiles:
  auditor: [select]
targets:
  - name: orders
    engine: postgres
    server: {SERVER_ID}
    database: orders
    roles: [reader, auditor]
    allowed_sources: [/subscriptions/{SUB}/resourceGroups/{RG}]
"""


def test_yaml_catalog_with_a_custom_profile_and_defaults() -> None:
    parsed = parse_catalog(YAML)
    target = parsed.targets["orders"]
    assert target.engine is Engine.POSTGRES and target.schemas == ("public",)
    assert target.tls is TlsMode.REQUIRE
    assert parsed.profiles["auditor"].privileges == frozenset({Privilege.SELECT})


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"engine": "oracle"}, "catalog.targets[orders].engine"),
        (
            {"server": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Sql/servers/z"},
            "catalog.targets[orders].server",
        ),
        ({"roles": ["owner"]}, "catalog.targets[orders].roles"),
        ({"allowed_sources": []}, "catalog.targets[orders].allowed_sources"),
        ({"allowed_sources": ["rg-apps"]}, "catalog.targets[orders].allowed_sources"),
        ({"allowed_sources": ["/subscriptions/"]}, "catalog.targets[orders].allowed_sources"),
        ({"allowed_sources": [f"/subscriptions//resourceGroups/{RG}"]}, "catalog.targets[orders].allowed_sources"),
        ({"tls": "maybe"}, "catalog.targets[orders].tls"),
        ({"database": ""}, "catalog.targets[orders].database"),
        ({"name": "Orders!"}, "catalog.targets[0].name"),
        ({"colour": "blue"}, "catalog.targets[0]"),
    ],
)
def test_each_invalid_field_is_named(override: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        catalog(**override)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_unparseable_and_empty_documents() -> None:
    with pytest.raises(InvalidRequest, match="neither valid JSON nor YAML"):
        parse_catalog("targets: [unclosed")
    with pytest.raises(InvalidRequest, match=r"catalog\.targets"):
        parse_catalog("{}")
    with pytest.raises(InvalidRequest, match="built-in"):
        parse_catalog('{"profiles": {"reader": ["SELECT"]}, "targets": []}')


IDENTITY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-id"
)
TARGET = {"name": "orders", "engine": "postgres", "server": SERVER_ID, "database": "orders", "roles": ["reader"],
          "allowed_sources": [f"/subscriptions/{SUB}"]}  # fmt: skip


def test_offered_identities_are_keyed_by_their_id_in_any_case() -> None:
    sources = [f"/subscriptions/{SUB}/resourceGroups/{RG}"]
    parsed = catalog_from_document(
        {"targets": [TARGET], "identities": [{"id": IDENTITY_ID, "allowed_sources": sources}]}
    )
    (offered,) = parsed.identities.values()
    assert parsed.identities[IDENTITY_ID.lower()] == offered and offered.allowed_sources == tuple(sources)
    assert catalog_from_document({"targets": [TARGET]}).identities == {}


@pytest.mark.parametrize(
    ("identities", "field"),
    [
        ({"id": IDENTITY_ID}, "catalog.identities"),
        ([{"id": SERVER_ID, "allowed_sources": [f"/subscriptions/{SUB}"]}], "catalog.identities[0].id"),
        ([{"id": IDENTITY_ID, "allowed_sources": []}], "catalog.identities[0].allowed_sources"),
        ([{"id": IDENTITY_ID, "allowed_sources": ["rg-apps"]}], "catalog.identities[0].allowed_sources"),
        ([{"id": IDENTITY_ID, "allowed_sources": ["/subscriptions"]}], "catalog.identities[0].allowed_sources"),
        ([{"id": IDENTITY_ID, "allowed_sources": [f"/subscriptions/{SUB}"], "role": "x"}], "catalog.identities[0]"),
        (
            [{"id": IDENTITY_ID, "allowed_sources": [f"/subscriptions/{SUB}"]}] * 2,
            "catalog.identities[1].id",
        ),
    ],
)
def test_each_invalid_identity_entry_is_named(identities: object, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        catalog_from_document({"targets": [TARGET], "identities": identities})
    assert caught.value.field == field


@pytest.mark.parametrize(("first", "second"), [("a-b", "a_b"), ("orders_ro", "orders-ro")])
def test_targets_whose_setting_names_would_collide_are_refused(first: str, second: str) -> None:
    target = {"engine": "postgres", "server": SERVER_ID, "database": "d", "roles": ["reader"]}
    sources = {"allowed_sources": [f"/subscriptions/{SUB}"]}
    document = {"targets": [target | sources | {"name": first}, target | sources | {"name": second}]}
    with pytest.raises(InvalidRequest, match=f"'{second}' and '{first}' would share app-setting names") as caught:
        catalog_from_document(document)
    assert caught.value.field == "catalog.targets[1].name"


def test_an_entry_with_several_errors_raises_the_first_and_keeps_the_others() -> None:
    """The loader still raises the first error in field order; ``also`` holds the entry's others, so
    ``passwordless catalog check`` can name them all. A check that needs a wrong field is left out."""
    sql_server = "/subscriptions/x/resourceGroups/y/providers/Microsoft.Sql/servers/z"
    document = {
        "targets": [
            {
                "name": "orders",
                "engine": "oracle",
                "server": sql_server,  # no engine to judge its type by: not an error of its own
                "database": "orders",
                "roles": ["owner", "writer", "boss"],
                "allowed_sources": ["/subscriptions/"],
                "tls": "maybe",
            }
        ]
    }
    with pytest.raises(InvalidRequest) as caught:
        catalog_from_document(document)
    assert caught.value.field == "catalog.targets[orders].engine"
    assert [e.field for e in caught.value.also] == [
        "catalog.targets[orders].roles",
        "catalog.targets[orders].roles",
        "catalog.targets[orders].allowed_sources",
        "catalog.targets[orders].tls",
    ]
    assert "'boss'" in str(caught.value.also[1])
