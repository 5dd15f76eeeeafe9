"""Every recorded Azure answer, replayed through the product's own adapters (the functions a
reconcile or an audit calls), gives the right product result: parsed state, transient versus
permanent error, the whole-set PUT."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.azure.discovery import Discovery
from provisioning.azure.servers import Servers
from provisioning.azure.webapps import WebApps
from provisioning.config import Config
from provisioning.errors import NotFound, PermanentError, TransientError
from provisioning.models import Engine
from provisioning.plan import SetAppSettings
from provisioning.resource_ids import parse_app_id, parse_resource_id
from tests.contracts.replay import RECORDINGS, ReplayDispatcher, StaticToken, interactions, replay_server

REPLAYED: set[str] = set()


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[ReplayDispatcher]:
    with replay_server(tmp_path) as dispatcher:
        yield dispatcher


def serve(replay: ReplayDispatcher, name: str, **override: str) -> list[dict]:  # type: ignore[type-arg]
    REPLAYED.add(name)
    found = interactions(name)
    for interaction in found:
        replay.add(interaction, **override)
    return found


def config(replay: ReplayDispatcher) -> Config:
    return Config(catalog="unused", arm_endpoint=replay.base_url)


def webapps(replay: ReplayDispatcher) -> WebApps:
    return WebApps(StaticToken(), config(replay), poll_interval_s=0.01)  # type: ignore[arg-type]


def app_of(interaction: dict) -> object:  # type: ignore[type-arg]
    """The site a recorded request is about (a settings path names its site)."""
    return parse_app_id(interaction["request"]["path"].split("/config/")[0], field="recording")


def test_a_site_with_a_user_assigned_identity_parses_as_recorded(replay: ReplayDispatcher) -> None:
    (get,) = serve(replay, "site_get.json")
    site = webapps(replay).read_site(app_of(get))  # type: ignore[arg-type]
    recorded = get["response"]["body"]
    (rid, ids), *_ = recorded["identity"]["userAssignedIdentities"].items()
    assert "/resourcegroups/" in rid  # ARM re-cases the key; the product compares ids case-insensitively
    assert site.system_principal_id is None
    assert site.attached(rid.replace("/resourcegroups/", "/resourceGroups/")) is not None
    assert site.user_assigned[rid].client_id == ids["clientId"].lower()
    assert site.tags == {}  # the answer has no `tags` key at all
    assert site.location == "East US 2"


def test_a_site_with_both_identities_and_its_settings_parse_as_recorded(replay: ReplayDispatcher) -> None:
    (get,) = serve(replay, "site_get_system_and_user.json")
    (listed,) = serve(replay, "appsettings_list.json")  # the same site, recorded in the same test
    site = webapps(replay).get_site(app_of(get))  # type: ignore[arg-type]
    identity = get["response"]["body"]["identity"]
    assert site.system_principal_id == identity["principalId"]
    assert len(site.user_assigned) == 2
    assert site.app_settings == listed["response"]["body"]["properties"]
    assert site.location == "France Central"


def test_the_settings_put_replaces_the_whole_set(replay: ReplayDispatcher) -> None:
    (put,) = serve(replay, "appsettings_put.json")
    sent = put["request"]["body"]["properties"]
    current = {k: v for k, v in sent.items() if k != "FOO"}
    app = app_of(put)
    webapps(replay).write_settings(app, current, SetAppSettings(app, set=(("FOO", "BAR"),)))  # type: ignore[arg-type]
    (request,) = replay.requests_to("PUT")
    assert request.body == {"properties": sent}  # every setting, not only the one changed


def test_a_missing_site_is_not_found(replay: ReplayDispatcher) -> None:
    (get,) = serve(replay, "error_404_site.json")
    with pytest.raises(NotFound, match="ResourceNotFound"):
        webapps(replay).read_site(app_of(get))  # type: ignore[arg-type]


def identity_change(replay: ReplayDispatcher, path: str) -> object:
    """Enable the system identity of the site at `path` (the PATCH a reconcile sends)."""
    app = parse_app_id(path, field="recording")
    site = webapps(replay).read_site(app)
    return webapps(replay).update_identities(site, system=True, user_assigned=tuple(site.user_assigned))


def test_an_accepted_patch_with_an_empty_body_is_followed_not_parsed(replay: ReplayDispatcher) -> None:
    """202 + Location, empty body; the poll answers 202 again (all that was recorded): the product
    follows the Location and, while it stays accepted, reports a transient error — no JSON error."""
    patch, poll = serve(replay, "site_patch_async.json")
    (get,) = serve(replay, "site_get_system_and_user.json", path=patch["request"]["path"])
    with pytest.raises(TransientError, match="not finished"):
        identity_change(replay, patch["request"]["path"])
    polls = [r for r in replay.requests_to("GET") if "operationresults" in r.path]
    assert polls and polls[0].path == poll["request"]["path"]
    assert get["response"]["status"] == 200


def identity_put(replay: ReplayDispatcher, path: str) -> dict:  # type: ignore[type-arg]
    """The recorded answer to the CLI's identity PUT, served to the product's PATCH of `path`:
    both operations answer the site as it now is."""
    REPLAYED.add("site_identity_assign.json")
    put = interactions("site_identity_assign.json")[1]
    replay.add(put, method="PATCH", path=path)
    return put


def test_identity_assign_answer_parses_both_identities(replay: ReplayDispatcher) -> None:
    get, put = interactions("site_identity_assign.json")
    REPLAYED.add("site_identity_assign.json")
    replay.add(get)
    replay.add(put, method="PATCH")
    updated = identity_change(replay, get["request"]["path"])
    identity = put["response"]["body"]["identity"]
    assert updated.system_principal_id == identity["principalId"]  # type: ignore[attr-defined]
    assert {k: v.client_id for k, v in updated.user_assigned.items()} == {  # type: ignore[attr-defined]
        k: v["clientId"] for k, v in identity["userAssignedIdentities"].items()
    }
    (patch,) = replay.requests_to("PATCH")
    assert patch.body["identity"]["type"] == "SystemAssigned"  # the site had no identity before the GET


def test_app_service_site_lock_429_is_retried_with_backoff(replay: ReplayDispatcher) -> None:
    """App Service's own 429 carries no Retry-After; azure-core alone would not retry a PATCH on it."""
    (locked,) = serve(replay, "error_429_site_lock.json")
    path = locked["request"]["path"]
    (before,) = serve(replay, "site_get_system_and_user.json", path=path)
    # The product PATCHes where the CLI PUT: both answer the site. First the lock, then the site.
    replay.add(locked, method="PATCH")
    put = identity_put(replay, path)
    updated = identity_change(replay, path)
    assert [r.method for r in replay.received].count("PATCH") == 2
    assert updated.system_principal_id == put["response"]["body"]["identity"]["principalId"]  # type: ignore[attr-defined]
    assert before["response"]["status"] == 200


def test_arm_504_on_a_write_is_retried(replay: ReplayDispatcher) -> None:
    (timeout,) = serve(replay, "error_504_gateway.json")
    path = timeout["request"]["path"]
    serve(replay, "site_get_system_and_user.json", path=path)
    replay.add(timeout, method="PATCH")
    put = identity_put(replay, path)
    updated = identity_change(replay, path)
    assert [r.method for r in replay.received].count("PATCH") == 2
    assert updated.system_principal_id == put["response"]["body"]["identity"]["principalId"]  # type: ignore[attr-defined]


def test_a_conflict_is_permanent_and_names_arm_code(replay: ReplayDispatcher) -> None:
    """The recorded 409 (an Azure SQL operation) in ARM's error shape, as answered to a site PATCH."""
    (conflict,) = serve(replay, "error_409.json")
    (get,) = serve(replay, "site_get_system_and_user.json")
    path = get["request"]["path"]
    replay.add(conflict, method="PATCH", path=path)
    with pytest.raises(PermanentError, match="CannotCancelOperation"):
        identity_change(replay, path)


def test_postgres_server_and_its_empty_admin_list(replay: ReplayDispatcher) -> None:
    (server,) = serve(replay, "pg_server_get.json")
    serve(replay, "pg_admins_list.json")
    info = Servers(StaticToken(), config(replay)).get_server(  # type: ignore[arg-type]
        Engine.POSTGRES, parse_resource_id(server["request"]["path"], field="recording")
    )
    assert info.fqdn == server["response"]["body"]["properties"]["fullyQualifiedDomainName"]
    assert info.administrators == ()


def test_mysql_server_without_database_port_and_its_admin(replay: ReplayDispatcher) -> None:
    (server,) = serve(replay, "mysql_server_get.json")
    (admins,) = serve(replay, "mysql_admins_list.json")
    info = Servers(StaticToken(), config(replay)).get_server(  # type: ignore[arg-type]
        Engine.MYSQL, parse_resource_id(server["request"]["path"], field="recording")
    )
    assert "databasePort" not in server["response"]["body"]["properties"]
    assert info.port is None  # the settings then use MySQL's 3306
    (admin,) = info.administrators
    assert admin.object_id == admins["response"]["body"]["value"][0]["properties"]["sid"]


def test_resource_graph_pages_follow_the_skip_token(replay: ReplayDispatcher) -> None:
    first = serve(replay, "graph_paged.json")[0]
    second = serve(replay, "graph_skip_token.json")[0]
    discovery = Discovery(StaticToken(), config(replay))  # type: ignore[arg-type]
    rows = list(itertools.islice(discovery.rows("resources | project id"), 6))
    assert [r["id"] for r in rows] == [r["id"] for r in first["response"]["body"]["data"]] + [
        r["id"] for r in second["response"]["body"]["data"]
    ]
    page_two = replay.received[1].body
    assert page_two["options"]["$skipToken"] == first["response"]["body"]["$skipToken"]


def test_an_unparsable_query_is_permanent_and_says_invalid_query(replay: ReplayDispatcher) -> None:
    serve(replay, "graph_query_error.json")
    discovery = Discovery(StaticToken(), config(replay))  # type: ignore[arg-type]
    with pytest.raises(PermanentError, match="InvalidQuery"):
        list(discovery.rows("where where"))


def test_every_recording_is_replayed() -> None:
    """Runs last in this module (pytest keeps file order): no recording is left out."""
    assert {p.name for p in RECORDINGS.glob("*.json")} == REPLAYED
