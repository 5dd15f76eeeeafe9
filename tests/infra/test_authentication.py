"""App Service Authentication is deployed by default: the function trusts the caller header only when
the platform strips and sets it, so a deployment without it leaves every write route answering 403.

The auth module's condition is evaluated with every parameter at its default, through main.bicep's
call of the function module: a condition such as ``!empty(authClientId)`` over an empty default (how
authentication was once left off by default) evaluates to false and fails here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.bicep import INFRA, ROOT, module_body, parse

MAIN = INFRA / "main.bicep"
FUNCTION = INFRA / "modules" / "function.bicep"
AUTH = INFRA / "modules" / "auth.bicep"
WRITE_ROUTES = ("/api/connections/apply", "/api/audit")


class Unevaluable(Exception):
    pass


def evaluate(condition: Any, values: dict[str, Any]) -> Any:
    """The few Bicep expressions a deployment switch is made of: a parameter, ``!``, ``empty()``."""
    if isinstance(condition, bool):
        return condition
    if isinstance(condition, str):
        if condition in values:
            return values[condition]
        raise Unevaluable(f"unknown name {condition!r}")
    if "operator" in condition and condition["operator"]["type"] == "not":
        return not evaluate(condition["operator"]["operands"]["bool_value"], values)
    if "function" in condition and condition["function"]["type"] == "empty":
        return not evaluate(condition["function"]["parameters"]["item_to_test"], values)
    raise Unevaluable(json.dumps(condition)[:200])


def defaults(path: Any) -> dict[str, Any]:
    return {name: spec["default"] for name, spec in parse(path)["parameters"].items() if "default" in spec}


def function_parameters_at_defaults() -> dict[str, Any]:
    """The function module's parameters as main.bicep passes them when every main parameter is default."""
    main_defaults = defaults(MAIN)
    (call,) = [m for m in parse(MAIN)["modules"].values() if m["detail"]["path"] == "modules/function.bicep"]
    values = defaults(FUNCTION)
    for name, passed in module_body(call)["params"].items():
        if isinstance(passed, str) and passed in main_defaults:
            values[name] = main_defaults[passed]
    return values


def auth_module() -> dict[str, Any]:
    (module,) = [m for m in parse(FUNCTION)["modules"].values() if m["detail"]["path"] == "auth.bicep"]
    return dict(module)


def test_the_auth_module_is_deployed_when_every_parameter_is_at_its_default() -> None:
    condition = auth_module()["config"].get("condition")
    if condition is not None:
        assert evaluate(condition, function_parameters_at_defaults()) is True


def test_the_check_fails_for_a_module_conditional_on_an_empty_default() -> None:
    """The check itself can fail: the condition authentication was once deployed under."""
    empty_client_id = {"function": {"type": "empty", "parameters": {"item_to_test": "authClientId"}}}
    old = {"operator": {"type": "not", "operands": {"bool_value": empty_client_id}}}
    assert evaluate(old, {"authClientId": ""}) is False
    with pytest.raises(Unevaluable):
        evaluate({"function": {"type": "contains"}}, {})


def test_turning_authentication_off_is_an_explicit_demo_switch() -> None:
    main = parse(MAIN)["parameters"]["appServiceAuthentication"]
    assert main["type"] == "bool" and main["default"] is True
    description = main["decorators"][0]["argument"]
    assert "demo" in description.lower() and "403" in description
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["appServiceAuthentication"]["value"] == "${PASSWORDLESS_APP_SERVICE_AUTHENTICATION=true}"


def test_an_empty_client_id_fails_the_deployment_instead_of_leaving_authentication_off() -> None:
    decorators = {d["type"]: d["argument"] for d in parse(AUTH)["parameters"]["clientId"]["decorators"]}
    assert decorators["min_length"] == decorators["max_length"] == 36  # a GUID, never ''


def test_unauthenticated_writes_get_401_and_reads_and_event_delivery_stay_reachable() -> None:
    (settings,) = [r for r in parse(AUTH)["resources"].values() if r["type"] == "Microsoft.Web/sites/config"]
    properties = settings["config"]["properties"]
    assert settings["config"]["name"] == "authsettingsV2"
    assert properties["platform"]["enabled"] is True
    validation = properties["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "Return401"
    excluded = set(validation["excludedPaths"])
    assert not excluded & set(WRITE_ROUTES)
    assert "/runtime/webhooks/eventgrid" in excluded
    entra = properties["identityProviders"]["azureActiveDirectory"]
    assert entra["enabled"] is True and entra["registration"]["clientId"] == "clientId"


def test_the_app_role_the_write_routes_require_is_defined_by_the_deployment() -> None:
    roles = json.loads((INFRA / "auth-app-roles.json").read_text(encoding="utf-8"))
    required = defaults(MAIN)["applyRole"]
    (role,) = [r for r in roles if r["value"] == required]
    assert role["allowedMemberTypes"] == ["Application"] and role["isEnabled"] is True
    hook = (INFRA / "hooks" / "preprovision.sh").read_text(encoding="utf-8")
    assert "--app-roles @infra/auth-app-roles.json" in hook
    azure_yaml = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    assert "run: ./infra/hooks/preprovision.sh" in azure_yaml
