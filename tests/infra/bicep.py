"""Reading the Bicep under ``infra/`` offline: pycep-parser turns each file into a JSON-like tree.

No Bicep compiler runs here, so these trees are what the tests check: that every file parses, that
modules and their parameters agree, and what the function's app settings are."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
FUNCTION_MODULE = INFRA / "modules" / "function.bicep"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    from pycep import BicepParser

    tree: dict[str, Any] = dict(BicepParser().parse(file_path=path))
    for section in ("parameters", "variables", "resources", "modules", "outputs"):
        tree.setdefault(section, {})  # pycep leaves out empty sections
    return tree


def unquote(key: str) -> str:
    """pycep keeps the quotes of quoted object keys (``'azd-service-name'``)."""
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def module_body(module: dict[str, Any]) -> dict[str, Any]:
    """The ``{name, scope, params}`` body of a module, under any ``if`` condition or ``for`` loop."""
    body: dict[str, Any] = module["config"]
    while "params" not in body and isinstance(body.get("config"), dict):
        body = body["config"]
    return body


def app_settings() -> dict[str, Any]:
    """The function's app settings: the ``appSettings`` variable of the function module.

    pycep renders string literals and identifiers alike, so values are checked against the source
    text where it matters (see ``setting_source``)."""
    variable = parse(FUNCTION_MODULE)["variables"]["appSettings"]["value"]
    return {unquote(key): value for key, value in variable.items()}


def setting_source(name: str) -> str:
    """The right-hand side of one setting in the function module, as written."""
    text = FUNCTION_MODULE.read_text(encoding="utf-8")
    found = re.search(rf"^\s*{re.escape(name)}:\s*(.+?)\s*$", text, re.MULTILINE)
    assert found, f"{name} is not set in {FUNCTION_MODULE.relative_to(ROOT)}"
    return found.group(1)


def resource_body(resource: dict[str, Any]) -> dict[str, Any]:
    """The ``{name, properties, ...}`` body of a resource, under any ``if`` condition or ``for`` loop."""
    body: dict[str, Any] = resource["config"]
    while "name" not in body and isinstance(body.get("config"), dict):
        body = body["config"]
    return body


def resources_of_type(path: Path, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource_body(resource)
        for name, resource in parse(path)["resources"].items()
        if resource["type"].lower() == resource_type.lower() and not resource["existing"]
    }
