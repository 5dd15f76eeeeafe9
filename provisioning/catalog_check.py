"""``passwordless catalog check``: every problem of a catalog file in one pass, each with its line.

The loader stops at the first error, which is right at run time; before a deployment a platform
engineer wants the whole list. Each section and each target is validated on its own with the same
loader (so the rules cannot disagree), and each error is placed on the line of the field it names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from provisioning.catalog import catalog_from_document, named_stream
from provisioning.errors import InvalidRequest
from provisioning.models import Catalog

FIELD = re.compile(r"^catalog(?:\.(?P<section>[^.\[]+))?(?:\[(?P<entry>[^\]]*)\])?(?:\.(?P<key>[^.\[]+))?")
TARGET_FIELD = re.compile(r"^catalog\.targets\[[^\]]*\]")
SECTIONS = ("targets", "profiles", "admin_group")


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
    except InvalidRequest:
        pass  # find every problem, not just this first one
    lines = _Lines(text)
    problems = [CatalogProblem(lines.of(exc.field or "catalog"), str(exc)) for exc in _errors(document)]
    return None, sorted(problems, key=lambda p: (p.line or 0, p.message))


def _errors(document: Any) -> list[InvalidRequest]:
    if not isinstance(document, dict):
        return [_first(document)]
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
        found.append(_first({"profiles": profiles}))
    else:
        for name, privileges in profiles.items():
            error = _error_of({"profiles": {name: privileges}, "targets": []}, section="profiles")
            if error is None:
                good_profiles[name] = privileges
            else:
                found.append(error)
    admin_group = _error_of({"admin_group": document.get("admin_group"), "targets": []}, section="admin_group")
    found += [admin_group] if admin_group else []
    targets = document.get("targets")
    if not isinstance(targets, list) or not targets:
        found.append(_first({"targets": targets}))
        return found
    names: dict[str, int] = {}
    for index, raw in enumerate(targets):
        error = _error_of({"profiles": good_profiles, "targets": [raw]}, section="targets")
        if error is not None:
            found.append(_renumbered(error, index))
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(name, str):
            continue
        name = name.strip()
        if name in names:
            found.append(
                InvalidRequest(
                    f"catalog.targets[{index}].name: {name!r} is defined twice (first at targets[{names[name]}])",
                    field=f"catalog.targets[{index}].name",
                )
            )
        names.setdefault(name, index)
    return found


def _first(document: Any) -> InvalidRequest:
    try:
        catalog_from_document(document)
    except InvalidRequest as exc:
        return exc
    raise AssertionError("a document that failed once must fail again")  # pragma: no cover


def _error_of(document: dict[str, Any], *, section: str) -> InvalidRequest | None:
    """The error of one section checked alone; the loader's 'targets is empty' complaint is not one."""
    try:
        catalog_from_document(document)
    except InvalidRequest as exc:
        return exc if (exc.field or "").startswith(f"catalog.{section}") and exc.field != "catalog.targets" else None
    return None


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
        if section == "targets" and entry is not None and node is not None:
            node, line = self._target(node, entry, line)
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
    def _target(node: Any, entry: str, fallback: int | None) -> tuple[Any, int | None]:
        import yaml

        if not isinstance(node, yaml.SequenceNode) or not entry.isdigit() or int(entry) >= len(node.value):
            return None, fallback
        child = node.value[int(entry)]
        return child, child.start_mark.line + 1
