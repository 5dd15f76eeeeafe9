import pytest

from provisioning.errors import PolicyViolation
from provisioning.models import AppRequest, ConnectionRequest
from provisioning.policy import authorize
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
        (request(target="billing"), "not in the catalog"),
        (request(role="ddl"), "not offered"),
        (request(app=AppRef(SUB, "rg-other", "shop-web")), "outside the allowed sources"),
        (request(app=AppRef(SUB, "rg-apps-evil", "shop-web")), "outside the allowed sources"),
    ],
)
def test_refusals_say_why(req: AppRequest, message: str) -> None:
    with pytest.raises(PolicyViolation, match=message):
        authorize(req, catalog())
