"""``passwordless catalog check``: every problem of a catalog file in one pass, each with its line.

The loader raises at the first error, which is right at run time; before a deployment a platform
engineer wants the whole list. Each section, each identity and each target is validated on its own
with the same loader (so the rules cannot disagree), which checks every field of an entry and keeps
the errors after the first in ``InvalidRequest.also``; the checks across entries (a name defined twice,
two names making the same app-setting names) are made here. Each error is placed on the line of the
field it names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from provisioning.catalog import catalog_from_document, named_stream
from provisioning.errors import InvalidRequest
from provisioning.models import Catalog
from provisioning.rbac_targets import TARGET_NAME, is_rbac_entry
from provisioning.settings import setting_infix

FIELD = re.compile(r"^catalog(?:\.(?P<section>[^.\[]+))?(?:\[(?P<entry>[^\]]*)\])?(?:\.(?P<key>[^.\[]+))?")
TARGET_FIELD = re.compile(r"^catalog\.targets\[[^\]]*\]")
SECTIONS = ("targets", "profiles", "admin_group", "identities")


@dataclass(frozen=True)
class CatalogProblem:
    line: int | None  # 1-based; None when the text has no line for it
    message: str

    def format(self, source: str) -> str:
        return f"{source}:{self.line}: {self.message}" if self.line else f"{source}: {self.message}"


def check_catalog(text: str, *, source: str) -> tuple[Catalog | None, list[CatalogProblem]]:
    """The catalog when it is valid, else every problem found, in file order."""
    import yaml

    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        try:
            document = yaml.safe_load(named_stream(text, source))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            what = " ".join(
                str(part) for part in (getattr(exc, "context", None), getattr(exc, "problem", None)) if part
            )
            return None, [CatalogProblem(mark.line + 1 if mark else None, f"not valid YAML or JSON: {what or exc}")]
    try:
        return catalog_from_document(document), []
    except InvalidRequest as exc:
        first = exc  # find every problem, not just this first one
    lines = _Lines(text)
    found = _errors(document) or [first]  # never "invalid" with nothing named
    problems = {CatalogProblem(lines.of(error.field or "catalog"), str(error)) for error in found}
    return None, sorted(problems, key=lambda p: (p.line or 0, p.message))


def _errors(document: Any) -> list[InvalidRequest]:
    if not isinstance(document, dict):
        return _all(document)
    found: list[InvalidRequest] = []
    found += [
        InvalidRequest(
            f"catalog.{key}: unknown top-level field (expected one of {list(SECTIONS)})", field=f"catalog.{key}"
        )
        for key in document
        if key not in SECTIONS
    ]
    profiles = document.get("profiles") or {}
    good_profiles: dict[str, Any] = {}
    if not isinstance(profiles, dict):
        found += _all({"profiles": profiles})
    else:
        for name, privileges in profiles.items():
            errors = _errors_of({"profiles": {name: privileges}, "targets": []}, section="profiles")
            if not errors:
                good_profiles[name] = privileges
            found += errors
    found += _errors_of({"admin_group": document.get("admin_group"), "targets": []}, section="admin_group")
    found += _errors_of({"identities": document.get("identities"), "targets": []}, section="identities")
    targets = document.get("targets")
    if not isinstance(targets, list) or not targets:
        found += _all({"targets": targets})
        return found
    for index, raw in enumerate(targets):
        errors = _errors_of({"profiles": good_profiles, "targets": [raw]}, section="targets")
        found += [_renumbered(error, index) for error in errors]
    found += _defined_twice(targets)
    found += _shared_setting_names(targets)
    return found


def _text(entry: Any, key: str) -> str:
    value = entry.get(key) if isinstance(entry, dict) else None
    return value.strip() if isinstance(value, str) else ""


def _defined_twice(targets: list[Any]) -> list[InvalidRequest]:
    """A target whose name an earlier target already has."""
    first: dict[str, int] = {}
    found = []
    for index, raw in enumerate(targets):
        name = _text(raw, "name")
        if not name:
            continue
        if name in first:
            where = f"catalog.targets[{index}].name"
            found.append(
                InvalidRequest(f"{where}: {name!r} is defined twice (first at targets[{first[name]}])", field=where)
            )
        first.setdefault(name, index)
    return found


def _shared_setting_names(targets: list[Any]) -> list[InvalidRequest]:
    """Two database targets whose names make the same app-setting names (``orders-eu``, ``orders_eu``)."""
    by_infix: dict[str, str] = {}
    found = []
    for index, raw in enumerate(targets):
        name = _text(raw, "name")
        if not name or is_rbac_entry(raw) or not TARGET_NAME.match(name):
            continue
        infix = setting_infix(name)
        if infix in by_infix and by_infix[infix] != name:
            where = f"catalog.targets[{index}].name"
            found.append(
                InvalidRequest(
                    f"{where}: {name!r} and {by_infix[infix]!r} would share app-setting names "
                    f"(both write ..._{infix[1:]}_...); rename one of them",
                    field=where,
                )
            )
        by_infix.setdefault(infix, name)
    return found


def _all(document: Any) -> list[InvalidRequest]:
    """Every error the loader names for a document that fails: the first and its ``also``."""
    try:
        catalog_from_document(document)
    except InvalidRequest as exc:
        return [exc, *exc.also]
    raise AssertionError("a document that failed once must fail again")  # pragma: no cover


def _errors_of(document: dict[str, Any], *, section: str) -> list[InvalidRequest]:
    """The errors of one section checked alone; the loader's 'targets is empty' complaint is not one."""
    try:
        catalog_from_document(document)
    except InvalidRequest as exc:
        errors = [exc, *exc.also]
        return [e for e in errors if (e.field or "").startswith(f"catalog.{section}") and e.field != "catalog.targets"]
    return []


def _renumbered(error: InvalidRequest, index: int) -> InvalidRequest:
    """A target checked alone is targets[0]: give the error its real position back."""
    message = str(error).replace("catalog.targets[0]", f"catalog.targets[{index}]", 1)
    return InvalidRequest(message, field=TARGET_FIELD.sub(f"catalog.targets[{index}]", error.field or "", count=1))


class _Lines:
    """Where each section, entry and key starts in the text (YAML node marks; JSON is read as YAML)."""

    def __init__(self, text: str) -> None:
        import yaml

        try:
            self._root: Any = yaml.compose(text)
        except yaml.YAMLError:
            self._root = None

    def of(self, field: str) -> int | None:
        match = FIELD.match(field)
        if self._root is None or match is None:
            return None
        node = self._root
        section, entry, key = match.group("section", "entry", "key")
        if section is None:
            return int(node.start_mark.line) + 1
        node, line = self._child(node, section)
        if entry is not None and node is not None:
            node, line = self._entry(node, entry, line)
        if key is not None and node is not None:
            return self._child(node, key)[1] or line
        return line

    @staticmethod
    def _child(node: Any, key: str) -> tuple[Any, int | None]:
        import yaml

        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == key:
                    return value_node, key_node.start_mark.line + 1
        return None, None

    @staticmethod
    def _entry(node: Any, entry: str, fallback: int | None) -> tuple[Any, int | None]:
        import yaml

        if not isinstance(node, yaml.SequenceNode) or not entry.isdigit() or int(entry) >= len(node.value):
            return None, fallback
        child = node.value[int(entry)]
        return child, child.start_mark.line + 1
