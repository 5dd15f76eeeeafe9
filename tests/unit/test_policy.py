import pytest

from provisioning.catalog import catalog_from_document
from provisioning.errors import PolicyViolation
from provisioning.models import AppRequest, Catalog, ConnectionRequest
from provisioning.policy import authorize
from provisioning.requests import parse_identity
from provisioning.resource_ids import AppRef
from tests.factories import APP, SUB, catalog


def request(app: AppRef = APP, target: str = "orders", role: str = "writer") -> AppRequest:
    return AppRequest(app=app, connections=(ConnectionRequest(target, role),))


def test_allowed_request_resolves_target_and_profile() -> None:
    (grantable,) = authorize(request(), catalog())
    assert grantable.target.name == "orders" and grantable.profile.name == "writer"


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (request(target="billing"), "'billing' is not offered to app"),
        (request(role="ddl"), "not offered"),
        (request(app=AppRef(SUB, "rg-other", "shop-web")), "'orders' is not offered to app"),
        (request(app=AppRef(SUB, "rg-apps-evil", "shop-web")), "'orders' is not offered to app"),
    ],
)
def test_refusals_say_why(req: AppRequest, message: str) -> None:
    with pytest.raises(PolicyViolation, match=message):
        authorize(req, catalog())


IDENTITY = (
    f"/subscriptions/{SUB}/resourceGroups/rg-ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-id"
)


def with_identities(*offered: dict[str, object]) -> Catalog:
    base = catalog()
    targets = [
        {
            "name": t.name,
            "engine": t.engine.value,
            "server": t.server.id,
            "database": t.database,
            "roles": sorted(t.roles),
            "allowed_sources": list(t.allowed_sources),
        }
        for t in base.targets.values()
    ] + [{**targets_secret, "name": "payroll-secret"}]
    return catalog_from_document({"targets": targets, "identities": list(offered)})


targets_secret = {
    "engine": "postgres",
    "server": f"/subscriptions/{SUB}/resourceGroups/rg-hr/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-hr",
    "database": "payroll",
    "roles": ["reader"],
    "allowed_sources": [f"/subscriptions/{SUB}/resourceGroups/rg-hr"],
}


def identity_request(identity: str, app: AppRef = APP) -> AppRequest:
    return AppRequest(
        app=app,
        connections=(ConnectionRequest("orders", "reader"),),
        identity=parse_identity(identity, field="tags.passwordless-identity"),
    )


def test_an_identity_offered_to_the_apps_scope_is_allowed_by_its_id_in_any_case() -> None:
    offered = with_identities({"id": IDENTITY, "allowed_sources": [f"/subscriptions/{SUB}/resourceGroups/rg-apps"]})
    assert authorize(identity_request(IDENTITY.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")), offered)


@pytest.mark.parametrize(
    ("offered", "message"),
    [
        ((), "is not offered to app"),
        (({"id": IDENTITY, "allowed_sources": [f"/subscriptions/{SUB}/resourceGroups/rg-orders"]},), "not offered"),
    ],
)
def test_an_identity_not_offered_to_the_app_is_denied(offered: tuple[dict[str, object], ...], message: str) -> None:
    with pytest.raises(PolicyViolation, match=message):
        authorize(identity_request(IDENTITY), with_identities(*offered))


def test_system_and_created_identities_need_no_catalog_entry() -> None:
    assert authorize(identity_request("system"), with_identities())
    assert authorize(identity_request("create:shop-id"), with_identities())


@pytest.mark.parametrize("target", ["billing", "payroll-secret"])
def test_a_denial_names_the_entry_and_the_reason_never_other_teams_targets(target: str) -> None:
    with pytest.raises(PolicyViolation) as refused:
        authorize(request(target=target, role="reader"), with_identities())
    message = str(refused.value)
    assert target in message
    assert not {"orders", "payroll-secret"} - {target} & set(message.replace("'", " ").split())
