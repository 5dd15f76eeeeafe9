"""Azure Resource Graph through the real ResourceGraphClient."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions, QueryResponse

from emulator import Emulator
from emulator.graph import tag_keys
from tests.emulator.emulator_estate import BILLING_API, OTHER_SUBSCRIPTION, SHOP_WEB, STAGING, SUBSCRIPTION

TAGGED_QUERY = (
    "resources | where type in~ ('microsoft.web/sites', 'microsoft.web/sites/slots') "
    "| where isnotempty(tags['passwordless']) | project id, name, type, resourceGroup, subscriptionId, tags"
)


def _all_pages(graph: ResourceGraphClient, subscriptions: list[str], query: str, top: int) -> list[QueryResponse]:
    pages, skip_token = [], None
    while True:
        page = graph.resources(
            QueryRequest(
                subscriptions=subscriptions, query=query, options=QueryRequestOptions(top=top, skip_token=skip_token)
            )
        )
        pages.append(page)
        skip_token = page.skip_token
        if not skip_token:
            return pages


def test_tagged_sites_and_slots_come_in_pages(emu: Emulator, graph: ResourceGraphClient) -> None:
    for i in range(3):
        emu.create_site(SUBSCRIPTION, "rg-apps", f"tagged-{i}", tags={"PasswordLess": "orders:reader"})

    pages = _all_pages(graph, [SUBSCRIPTION], TAGGED_QUERY, top=2)

    assert [page.count for page in pages] == [2, 2, 1]
    assert {page.total_records for page in pages} == {5}
    rows = [row for page in pages for row in page.data]
    assert [row["name"] for row in rows] == ["shop-web", "shop-web/staging", "tagged-0", "tagged-1", "tagged-2"]
    assert rows[1] == {
        "id": STAGING,
        "name": "shop-web/staging",
        "type": "microsoft.web/sites/slots",
        "kind": "app,linux",
        "location": "westeurope",
        "resourceGroup": "rg-apps",
        "subscriptionId": SUBSCRIPTION,
        "tags": {"passwordless": "orders:reader"},
        "linuxFxVersion": "PYTHON|3.11",
    }
    assert all(page.result_truncated == "false" for page in pages)


def test_without_a_tag_filter_every_site_and_slot_of_the_subscriptions_is_a_row(graph: ResourceGraphClient) -> None:
    page = graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION, OTHER_SUBSCRIPTION], query="resources"))

    ids = [row["id"] for row in page.data]
    assert len(ids) == 6 and page.count == page.total_records == 6 and page.skip_token is None
    assert {SHOP_WEB, STAGING, BILLING_API} < set(ids)
    assert {row["type"] for row in page.data} == {"microsoft.web/sites", "microsoft.web/sites/slots"}


def test_only_the_requested_subscriptions_are_searched(graph: ResourceGraphClient) -> None:
    page = graph.resources(QueryRequest(subscriptions=[OTHER_SUBSCRIPTION], query=TAGGED_QUERY))

    assert [row["name"] for row in page.data] == ["elsewhere"]


def test_the_user_quota_is_reported(graph: ResourceGraphClient) -> None:
    def headers(pipeline_response: Any, deserialized: Any, _: Any) -> Any:
        return pipeline_response.http_response.headers

    first = graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION], query="resources"), cls=headers)
    second = graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION], query="resources"), cls=headers)

    assert int(first["x-ms-user-quota-remaining"]) == int(second["x-ms-user-quota-remaining"]) + 1


def test_a_bad_skip_token_is_rejected(graph: ResourceGraphClient) -> None:
    request = QueryRequest(subscriptions=[SUBSCRIPTION], query="resources", options=QueryRequestOptions(skip_token="x"))

    with pytest.raises(HttpResponseError) as raised:
        graph.resources(request)

    assert raised.value.status_code == 400


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("resources | where isnotempty(tags['passwordless'])", {"passwordless"}),
        (
            'resources | where isnotempty(tags["Passwordless-Identity"]) or tags.passwordless != ""',
            {"passwordless-identity", "passwordless"},
        ),
        ("resources | project id, name", set()),
    ],
)
def test_tag_keys_named_in_a_query(query: str, keys: set[str]) -> None:
    assert tag_keys(query) == keys
