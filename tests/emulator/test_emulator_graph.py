"""Azure Resource Graph through the real ResourceGraphClient: the query is evaluated, tag keys are
case-sensitive, web-app rows carry no siteConfig, and what cannot be evaluated is a 400 InvalidQuery."""

from __future__ import annotations

import types
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions, QueryResponse

from emulator import Emulator
from emulator import graph as graph_api
from provisioning.azure.discovery import tagged_apps_query
from tests.contracts.replay import interactions
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
        emu.create_site(SUBSCRIPTION, "rg-apps", f"tagged-{i}", tags={"passwordless": "orders:reader"})

    pages = _all_pages(graph, [SUBSCRIPTION], TAGGED_QUERY, top=2)

    assert [page.count for page in pages] == [2, 2, 1]
    assert {page.total_records for page in pages} == {5}
    rows = [row for page in pages for row in page.data]
    assert [row["name"] for row in rows] == ["shop-web", "shop-web/staging", "tagged-0", "tagged-1", "tagged-2"]
    assert rows[1] == {
        "id": STAGING,
        "name": "shop-web/staging",
        "type": "microsoft.web/sites/slots",
        "resourceGroup": "rg-apps",
        "subscriptionId": SUBSCRIPTION,
        "tags": {"passwordless": "orders:reader"},
    }
    assert all(page.result_truncated == "false" for page in pages)


def test_later_pages_are_cut_from_the_first_pages_result_and_a_new_query_sees_changes(
    emu: Emulator, graph: ResourceGraphClient
) -> None:
    for i in range(3):
        emu.create_site(SUBSCRIPTION, "rg-apps", f"tagged-{i}", tags={"passwordless": "orders:reader"})
    first = graph.resources(
        QueryRequest(subscriptions=[SUBSCRIPTION], query=TAGGED_QUERY, options=QueryRequestOptions(top=2))
    )
    emu.create_site(SUBSCRIPTION, "rg-apps", "a-new-first-row", tags={"passwordless": "orders:reader"})

    options = QueryRequestOptions(top=2, skip_token=first.skip_token)
    rest = graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION], query=TAGGED_QUERY, options=options))
    again = _all_pages(graph, [SUBSCRIPTION], TAGGED_QUERY, top=2)

    paged = [row["name"] for row in first.data] + [row["name"] for row in rest.data]
    assert paged == ["shop-web", "shop-web/staging", "tagged-0", "tagged-1"]  # not shifted by the new site
    assert rest.total_records == 5
    assert again[0].data[0]["name"] == "a-new-first-row"  # a new query sees it


def test_tag_keys_are_case_sensitive_and_the_product_query_finds_every_casing(
    emu: Emulator, graph: ResourceGraphClient
) -> None:
    upper = emu.create_site(SUBSCRIPTION, "rg-apps", "upper-tag", tags={"Passwordless": "orders:reader"})
    by_lookup = graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION], query=TAGGED_QUERY)).data
    assert upper not in [row["id"] for row in by_lookup]  # tags['passwordless'] misses Passwordless=, as in Azure
    by_product = graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION], query=tagged_apps_query("passwordless")))
    ids = [row["id"] for row in by_product.data]
    assert upper in ids and SHOP_WEB in ids and STAGING in ids
    assert len(ids) == len(set(ids))


def test_site_rows_carry_no_site_config_and_the_stack_comes_from_appserviceresources(
    emu: Emulator, graph: ResourceGraphClient
) -> None:
    node = emu.create_site(
        SUBSCRIPTION, "rg-apps", "node-app", tags={"passwordless": "orders:reader"}, linux_fx_version="NODE|20-lts"
    )
    rows = graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION], query="resources | project id, properties")).data
    assert rows and all("siteConfig" not in (row["properties"] or {}) for row in rows)
    product = graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION], query=tagged_apps_query("passwordless")))
    stacks = {row["id"]: row["linuxFxVersion"] for row in product.data}
    assert stacks[node] == "NODE|20-lts" and stacks[SHOP_WEB] == "PYTHON|3.11"


def test_without_a_filter_every_resource_of_the_subscriptions_is_a_row(graph: ResourceGraphClient) -> None:
    page = graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION, OTHER_SUBSCRIPTION], query="resources"))

    ids = [row["id"] for row in page.data]
    assert page.count == page.total_records == len(ids) and page.skip_token is None
    assert {SHOP_WEB, STAGING, BILLING_API} < set(ids)
    assert {row["type"] for row in page.data} == {
        "microsoft.web/sites",
        "microsoft.web/sites/slots",
        "microsoft.managedidentity/userassignedidentities",
    }


def test_only_the_requested_subscriptions_are_searched(graph: ResourceGraphClient) -> None:
    page = graph.resources(QueryRequest(subscriptions=[OTHER_SUBSCRIPTION], query=tagged_apps_query("passwordless")))

    assert [row["id"].rsplit("/", 1)[-1] for row in page.data] == ["elsewhere"]  # tagged Passwordless=


@pytest.mark.parametrize(
    "query",
    [
        "where where",  # the recorded unparsable query
        "resources | summarize count() by type",  # an operator the emulator does not evaluate
        "resources | where nosuchcolumn == 'x' | project id",
        "resources | project id, n = strlen(name)",  # a function the emulator does not evaluate
        "resources | where type = 'microsoft.web/sites'",
    ],
)
def test_what_cannot_be_evaluated_is_invalid_query_shaped_as_recorded(graph: ResourceGraphClient, query: str) -> None:
    with pytest.raises(HttpResponseError) as raised:
        graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION], query=query))
    recorded = interactions("graph_query_error.json")[0]["response"]
    assert raised.value.status_code == recorded["status"] == 400
    assert raised.value.error is not None and raised.value.error.code == recorded["body"]["error"]["code"]
    assert [d.code for d in raised.value.error.details] == [d["code"] for d in recorded["body"]["error"]["details"]]


def test_the_user_quota_is_reported(graph: ResourceGraphClient) -> None:
    def headers(pipeline_response: Any, deserialized: Any, _: Any) -> Any:
        return pipeline_response.http_response.headers

    first = graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION], query="resources"), cls=headers)
    second = graph.resources(QueryRequest(subscriptions=[SUBSCRIPTION], query="resources"), cls=headers)

    assert int(first["x-ms-user-quota-remaining"]) == int(second["x-ms-user-quota-remaining"]) + 1
    assert "x-ms-ratelimit-remaining-tenant-resource-requests" in first


def test_the_user_quota_is_a_fixed_window_whose_resets_after_counts_down(
    graph: ResourceGraphClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Microsoft Learn, "Guidance for throttled requests in Azure Resource Graph": the window starts with
    the first query and `x-ms-user-quota-resets-after` is the time left in it; then the quota is whole."""
    clock = [1000.0]
    monkeypatch.setattr(graph_api, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))

    def quota_after(seconds: float) -> tuple[int, str]:
        clock[0] += seconds
        headers = graph.resources(
            QueryRequest(subscriptions=[SUBSCRIPTION], query="resources"),
            cls=lambda pipeline_response, *_: pipeline_response.http_response.headers,
        )
        return int(headers["x-ms-user-quota-remaining"]), headers["x-ms-user-quota-resets-after"]

    assert quota_after(0) == (graph_api.QUOTA - 1, "00:00:05")
    assert quota_after(2.5) == (graph_api.QUOTA - 2, "00:00:03")  # the same window, 2.5 s left
    assert quota_after(1.6) == (graph_api.QUOTA - 3, "00:00:01")
    assert quota_after(1.0) == (graph_api.QUOTA - 1, "00:00:05")  # 5.1 s after the first: a new window


def test_a_bad_skip_token_is_rejected(graph: ResourceGraphClient) -> None:
    request = QueryRequest(subscriptions=[SUBSCRIPTION], query="resources", options=QueryRequestOptions(skip_token="x"))

    with pytest.raises(HttpResponseError) as raised:
        graph.resources(request)

    assert raised.value.status_code == 400
