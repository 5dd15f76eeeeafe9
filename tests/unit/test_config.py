"""Settings read at start-up: a value that cannot be meant is refused with the setting's name."""

from __future__ import annotations

import pytest

from provisioning.config import Config
from provisioning.errors import InvalidRequest

BASE = {
    "PASSWORDLESS_CATALOG": "catalog.yaml",
    "PASSWORDLESS_FUNCTION_OBJECT_ID": "5f0c1a7e-0000-4000-8000-00000000f001",
}


@pytest.mark.parametrize(("value", "problem"), [("", "is empty"), ("not-a-guid", "is not a GUID")])
def test_the_function_object_id_must_be_a_guid(value: str, problem: str) -> None:
    with pytest.raises(InvalidRequest, match=f"PASSWORDLESS_FUNCTION_OBJECT_ID .*{problem}") as caught:
        Config.from_environment(BASE | {"PASSWORDLESS_FUNCTION_OBJECT_ID": value})
    assert caught.value.field == "PASSWORDLESS_FUNCTION_OBJECT_ID"


@pytest.mark.parametrize(("value", "remediate"), [(None, False), ("", False), ("false", False), (" True ", True)])
def test_timer_remediation_is_off_unless_switched_on(value: str | None, remediate: bool) -> None:
    environ = BASE | ({"PASSWORDLESS_AUDIT_REMEDIATE": value} if value is not None else {})
    assert Config.from_environment(environ).audit_remediate is remediate


@pytest.mark.parametrize("value", ["yes", "1", "on"])
def test_an_ambiguous_remediation_setting_is_refused(value: str) -> None:
    with pytest.raises(InvalidRequest, match="PASSWORDLESS_AUDIT_REMEDIATE") as caught:
        Config.from_environment(BASE | {"PASSWORDLESS_AUDIT_REMEDIATE": value})
    assert caught.value.field == "PASSWORDLESS_AUDIT_REMEDIATE"


@pytest.mark.parametrize(
    ("value", "on"),
    [("True", True), ("true", True), ("TRUE", True), ("", False), ("1", False), (" True", False), ("True\n", False)],
)
def test_authentication_is_on_only_when_the_platform_says_true(value: str, on: bool) -> None:
    """App Service injects WEBSITE_AUTH_ENABLED=True; compared as Identity.Web does, nothing looser."""
    assert Config.from_environment(BASE | {"WEBSITE_AUTH_ENABLED": value}).app_service_authentication is on
