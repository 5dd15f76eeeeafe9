"""The Bicep under infra/: it parses, its modules fit together, and it says what docs/permissions.md says.

There is no Bicep compiler here (its installer downloads a binary), so pycep-parser reads the files
and these tests check what a compiler's type check and a reviewer would: module parameters, keys
that must never appear, the event subscription's target and filters, and that each custom role
holds only the actions the function uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from provisioning.azure.events import DELETE, WRITE
from tests.functions_index import indexed
from tests.infra.bicep import (
    INFRA,
    ROOT,
    bicep_files,
    module_body,
    parse,
    resources_of_type,
)

MODULES = INFRA / "modules"
PERMISSIONS_DOC = ROOT / "docs" / "permissions.md"


def test_the_deployment_has_its_entry_point_and_modules() -> None:
    names = {path.relative_to(INFRA).as_posix() for path in bicep_files()}
    assert {"main.bicep", "modules/function.bicep", "modules/storage.bicep", "modules/events.bicep"} <= names
    assert parse(INFRA / "main.bicep")["globals"]["scope"]["value"] == "subscription"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_bicep_file_parses(path: Path) -> None:
    tree = parse(path)
    assert tree["resources"] or tree["modules"], f"{path.name} declares nothing"


def module_calls() -> list[tuple[Path, str, dict[str, object]]]:
    calls = []
    for path in bicep_files():
        for name, module in parse(path)["modules"].items():
            assert module["type"] == "local", f"{path.name}: module {name} is not a local file"
            calls.append((path, name, module))
    return calls


@pytest.mark.parametrize("call", module_calls(), ids=lambda c: f"{c[0].name}:{c[1]}")
def test_module_parameters_match_the_module(call: tuple[Path, str, dict[str, object]]) -> None:
    """What the compiler would reject: a missing module file, an unknown or a missing parameter."""
    path, name, module = call
    detail = module["detail"]
    assert isinstance(detail, dict)
    target = (path.parent / detail["path"]).resolve()
    assert target.is_file(), f"{path.name}: module {name} points at missing {target}"
    declared = parse(target)["parameters"]
    required = {param for param, spec in declared.items() if "default" not in spec}
    passed = set(module_body(module)["params"])
    assert passed - set(declared) == set(), f"{name}: unknown parameters of {target.name}"
    assert required - passed == set(), f"{name}: required parameters of {target.name} not passed"


def test_no_key_or_connection_secret_anywhere_in_infra() -> None:
    forbidden = ("listkeys", "accountkey=", "primarykey", "sharedaccesskey", "listsecrets", "@secure")
    for path in [*bicep_files(), *INFRA.glob("*.json")]:
        text = path.read_text(encoding="utf-8").lower()
        found = [word for word in forbidden if word in text]
        assert not found, f"{path.relative_to(ROOT)} mentions {found}"


def test_storage_is_reached_by_identity_only() -> None:
    (account,) = resources_of_type(MODULES / "storage.bicep", "Microsoft.Storage/storageAccounts").values()
    properties = account["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["defaultToOAuthAuthentication"] is True
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True


def test_function_runs_python_311_on_flex_consumption_as_its_user_assigned_identity() -> None:
    function = MODULES / "function.bicep"
    (plan,) = resources_of_type(function, "Microsoft.Web/serverfarms").values()
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    (site,) = resources_of_type(function, "Microsoft.Web/sites").values()
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert site["identity"]["type"] == "UserAssigned"
    assert site["properties"]["httpsOnly"] is True
    assert site["properties"]["siteConfig"]["ftpsState"] == "Disabled"
    policies = resources_of_type(function, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {p["name"]: p["properties"]["allow"] for p in policies.values()} == {"ftp": False, "scm": False}


def test_event_subscription_delivers_site_events_to_the_event_grid_function() -> None:
    tree = parse(MODULES / "event-subscription.bicep")
    (subscription,) = resources_of_type(
        MODULES / "event-subscription.bicep", "Microsoft.EventGrid/systemTopics/eventSubscriptions"
    ).values()
    properties = subscription["properties"]
    destination = properties["destination"]
    assert destination["endpointType"] == "AzureFunction"
    function_name = destination["properties"]["resourceId"].rsplit("/functions/", 1)[1]
    bindings = json.loads(indexed()[function_name].get_function_json())["bindings"]
    assert [b["type"] for b in bindings if b["direction"] == "IN"] == ["eventGridTrigger"]

    event_filter = properties["filter"]
    assert event_filter["includedEventTypes"] == [WRITE, DELETE]
    by_key = {f["key"]: f for f in event_filter["advancedFilters"]}
    operations = by_key["data.operationName"]
    assert operations["operatorType"] == "StringIn"
    names = tree["variables"][operations["values"]]["value"]
    assert {
        "Microsoft.Web/sites/write",
        "Microsoft.Web/sites/delete",
        "Microsoft.Web/sites/slots/write",
        "Microsoft.Web/sites/slots/delete",
        "Microsoft.Web/sites/config/write",
        "Microsoft.Resources/tags/write",
    } <= set(names)
    assert properties["retryPolicy"] == {
        "maxDeliveryAttempts": "maxDeliveryAttempts",
        "eventTimeToLiveInMinutes": "eventTimeToLiveInMinutes",
    }
    dead_letter = properties["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"


def test_system_topic_is_the_subscriptions_and_outcome_topic_takes_no_keys() -> None:
    events = MODULES / "events.bicep"
    (system_topic,) = resources_of_type(events, "Microsoft.EventGrid/systemTopics").values()
    assert system_topic["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    assert system_topic["identity"] == {"type": "SystemAssigned"}
    (topic,) = resources_of_type(events, "Microsoft.EventGrid/topics").values()
    assert topic["properties"]["disableLocalAuth"] is True
    text = events.read_text(encoding="utf-8")
    assert "d5a91429-5739-47e2-a06b-3470a27159e7" in text  # EventGrid Data Sender, scoped to the topic


def custom_role_actions() -> dict[str, list[str]]:
    roles = resources_of_type(INFRA / "main.bicep", "Microsoft.Authorization/roleDefinitions")
    actions: dict[str, list[str]] = {}
    for name, role in roles.items():
        (permissions,) = role["properties"]["permissions"]
        assert permissions["dataActions"] == [] and permissions["notActions"] == []
        actions[name] = permissions["actions"]
    return actions


def test_custom_roles_hold_no_write_beyond_what_the_function_does() -> None:
    actions = custom_role_actions()
    assert set(actions) == {"appConnectorRole", "serverReaderRole", "identityCreatorRole"}
    forbidden = (
        "firewallrules", "virtualnetworkrules", "microsoft.network/", "listkeys", "microsoft.authorization/",
        "/delete", "administrators/write", "federatedidentitycredentials", "publishxml", "publishingcredentials",
        "serverfarms", "microsoft.resources/", "extensions", "deployments",
    )  # fmt: skip
    for role, granted in actions.items():
        for action in granted:
            lowered = action.lower()
            assert not any(word in lowered for word in forbidden), f"{role} grants {action}"
            assert "*" not in action or action.endswith("/*/assign/action"), f"{role} grants a wildcard: {action}"
    assert all(a.endswith("/read") for a in actions["serverReaderRole"])


def test_every_custom_role_action_is_explained_in_the_permissions_doc() -> None:
    doc = PERMISSIONS_DOC.read_text(encoding="utf-8")
    for role, granted in custom_role_actions().items():
        for action in granted:
            assert f"`{action}`" in doc, f"{role}: {action} is not explained in docs/permissions.md"


def test_every_role_assignment_names_a_principal_type_and_a_purpose() -> None:
    for path in bicep_files():
        for name, assignment in resources_of_type(path, "Microsoft.Authorization/roleAssignments").items():
            properties = assignment["properties"]
            assert properties["principalType"] == "ServicePrincipal", f"{path.name}:{name}"
            assert properties.get("description"), f"{path.name}:{name} does not say why it exists"


def test_no_bicep_touches_a_database_server() -> None:
    for path in bicep_files():
        for name, resource in parse(path)["resources"].items():
            kind = resource["type"].lower()
            assert not kind.startswith(("microsoft.sql/", "microsoft.dbforpostgresql/", "microsoft.dbformysql/")), (
                f"{path.name}:{name} declares {resource['type']}: database servers belong to the platform team"
            )


REFERENCE = re.compile(r"(?<![\w.'/)])([A-Za-z_]\w*)\.(outputs|properties|id|name|identity)\b")
LOOP_ITEM = re.compile(r"\bfor\s+(\w+)\s+in\b")


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_symbol_used_is_declared(path: Path) -> None:
    """What the compiler would reject: ``x.outputs.y`` or ``x.properties`` of an undeclared ``x``."""
    tree = parse(path)
    text = re.sub(r"(^|\s)//.*$", "", path.read_text(encoding="utf-8"), flags=re.MULTILINE)  # comments, not URLs
    declared = set(tree["parameters"]) | set(tree["variables"]) | set(tree["resources"]) | set(tree["modules"])
    declared |= set(LOOP_ITEM.findall(text))
    used = {symbol for symbol, _ in REFERENCE.findall(text)}
    assert used - declared == set(), f"{path.name} uses undeclared symbols"
    for name, module in tree["modules"].items():
        outputs = parse((path.parent / module["detail"]["path"]).resolve())["outputs"]
        for output in re.findall(rf"\b{name}\.outputs\.(\w+)", text):
            assert output in outputs, f"{path.name}: module {name} has no output {output}"


def test_the_azd_parameters_file_fills_the_entry_points_parameters() -> None:
    declared = parse(INFRA / "main.bicep")["parameters"]
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert set(given) <= set(declared), "main.parameters.json sets parameters main.bicep does not declare"
    assert {name for name, spec in declared.items() if "default" not in spec} <= set(given)
    for name, spec in given.items():
        assert re.fullmatch(r"\$\{[A-Z_]+(=[^}]*)?\}", spec["value"]), f"{name} is not an azd environment value"


def test_every_watched_subscription_gets_its_system_topic_event_subscription_and_roles() -> None:
    """One loop over `watchedSubscriptions` deploys, per subscription, a system topic on it, the
    event subscription to the function, the topic's dead-letter access and the function's roles."""
    main = parse(INFRA / "main.bicep")["modules"]
    watched = main["watchedSubscription"]
    assert watched["detail"]["path"] == "modules/watched-subscription.bicep"
    assert watched["config"]["loop_type"]["detail"]["array_name"] == "watched"
    assert watched["config"]["config"]["scope"]["function"]["type"] == "subscription"
    events = main["watchedEventSubscription"]
    assert events["detail"]["path"] == "modules/event-subscription.bicep"
    assert events["config"]["loop_type"]["detail"]["array_name"]["operator"]["operands"]["true_value"] == "watched"
    scope = events["config"]["config"]["scope"]["function"]
    assert scope["type"] == "resource_group" and scope["parameters"]["subscription_id"] is not None
    assert main["watchedDeadLetterAccess"]["detail"]["path"] == "modules/dead-letter-access.bicep"

    module = parse(MODULES / "watched-subscription.bicep")
    assert module["globals"]["scope"]["value"] == "subscription"
    assert module["modules"]["topic"]["detail"]["path"] == "system-topic.bicep"
    (topic,) = resources_of_type(MODULES / "system-topic.bicep", "Microsoft.EventGrid/systemTopics").values()
    assert topic["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    assert topic["identity"] == {"type": "SystemAssigned"}
    roles = {
        name: m["config"]["config"]["params"]["roleDefinitionIds"]
        for name, m in module["modules"].items()
        if m["detail"]["path"] == "access.bicep"
    }
    assert roles == {
        "appAccess": ["appConnector"],
        "identityAccess": ["identityOperator"],
        "identityCreateAccess": ["identityCreator"],
        "serverAccess": ["serverReader"],
    }
    for role in resources_of_type(INFRA / "main.bicep", "Microsoft.Authorization/roleDefinitions").values():
        assert "watchedScopes" in json.dumps(role["properties"]["assignableScopes"])


def test_the_rbac_delegation_condition_is_the_one_the_product_builds() -> None:
    """The Bicep condition, rendered for some role ids, is character for character the product's."""
    from provisioning.rbac_roles import RBAC_ADMINISTRATOR, delegation_condition

    text = (INFRA / "modules" / "rbac-delegation.bicep").read_text(encoding="utf-8")
    template = re.search(r"^var condition = '(.*)'$", text, re.MULTILINE)
    assert template is not None
    ids = ["2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "4633458b-17de-408a-b874-0445c86b69e6"]
    rendered = template.group(1).replace("\\'", "'").replace("${roleIds}", ", ".join(ids))
    assert rendered == delegation_condition(frozenset(ids))
    assignment = resources_of_type(
        INFRA / "modules" / "rbac-delegation.bicep", "Microsoft.Authorization/roleAssignments"
    )
    (properties,) = [a["properties"] for a in assignment.values()]
    assert RBAC_ADMINISTRATOR in str(properties["roleDefinitionId"]) and properties["conditionVersion"] == "2.0"
