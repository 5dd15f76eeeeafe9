import pytest

from provisioning.errors import InvalidRequest
from provisioning.models import ClientType, ConnectionRequest, IdentityKind
from provisioning.requests import request_from_body, request_from_tags
from tests.factories import APP


def test_tags_with_several_connections_identity_and_client() -> None:
    request = request_from_tags(
        APP,
        {
            "Passwordless": " orders:Writer ; catalog:reader;",
            "passwordless-identity": "create:shop-id",
            "PASSWORDLESS-CLIENT": "Django",
        },
    )
    assert request.connections == (ConnectionRequest("orders", "writer"), ConnectionRequest("catalog", "reader"))
    assert request.identity.kind is IdentityKind.CREATE and request.identity.name == "shop-id"
    assert request.client is ClientType.DJANGO


@pytest.mark.parametrize(
    ("value", "fragment", "whole"),
    [
        ("orders", "entry 1 'orders' is not 'target:role'", True),
        ("orders:writer; :reader", "entry 2", False),
        ("orders:writer;; x:y", "entry 2 ''", False),
        ("orders:writer; orders:reader", "entry 2 names target 'orders' a second time", False),
        ("orders:wr;ter", "entry 2 'ter'", False),
        ("ord'ers:writer", "entry 1", True),
        ("", "empty", True),
    ],
)
def test_malformed_tag_entries_are_named_and_skipped(value: str, fragment: str, whole: bool) -> None:
    """A bad entry is skipped and reported by tag and position; a tag with no good entry is refused."""
    if whole:
        with pytest.raises(InvalidRequest) as caught:
            request_from_tags(APP, {"passwordless": value})
        assert caught.value.field == "tags.passwordless"
        assert fragment in str(caught.value)
        return
    request = request_from_tags(APP, {"passwordless": value})
    assert request.connections and len(request.skipped) == 1
    assert request.skipped[0].reason.startswith("tags.passwordless: ") and fragment in request.skipped[0].reason
    assert not request.skipped[0].denied


@pytest.mark.parametrize("value", ["none", "None", " NONE "])
def test_client_type_none_is_parsed_from_a_tag_and_a_request_body(value: str) -> None:
    tagged = request_from_tags(APP, {"passwordless": "orders:writer", "passwordless-client": value})
    assert tagged.client is ClientType.NONE
    body = request_from_body({"app": APP.id, "connections": ["orders:writer"], "client": value})
    assert body.client is ClientType.NONE


def test_bad_client_and_identity_tags_are_named() -> None:
    with pytest.raises(InvalidRequest, match=r"tags\.passwordless-client"):
        request_from_tags(APP, {"passwordless": "orders:writer", "passwordless-client": "cobol"})
    with pytest.raises(InvalidRequest, match=r"tags\.passwordless-identity"):
        request_from_tags(APP, {"passwordless": "orders:writer", "passwordless-identity": "/subscriptions/x"})


def test_body_accepts_a_list_or_a_string_and_rejects_unknown_fields() -> None:
    body = {"app": APP.id, "connections": ["orders:reader"]}
    assert request_from_body(body).connections == (ConnectionRequest("orders", "reader"),)
    assert request_from_body({**body, "connections": "orders:reader"}).app == APP
    with pytest.raises(InvalidRequest, match="unknown field"):
        request_from_body({**body, "extra": 1})
    with pytest.raises(InvalidRequest) as caught:
        request_from_body({"app": 42, "connections": "orders:reader"})
    assert caught.value.field == "app"
    with pytest.raises(InvalidRequest) as caught:
        request_from_body({"app": APP.id, "connections": []})
    assert caught.value.field == "connections"
