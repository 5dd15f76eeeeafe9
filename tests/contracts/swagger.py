"""The official REST API specs (OpenAPI 2.0, as Azure publishes them) as JSON Schema, to hold the
product's request bodies and the emulator's answers to them.

`specs/` holds trimmed copies of the spec files (`specs/README.md` says where each comes from);
`specs/sources.json` names what was left out of each, which is then accepted as any JSON. A `$ref`
to anything neither copied nor named there is an error: a spec that cannot be followed holds nothing.

How a Swagger schema becomes JSON Schema (AutoRest's reading of the same specs, which is what the
SDKs are generated from):
- `$ref`s are followed across files; `allOf` is flattened into one object (properties and `required`
  of every member); the `x-ms-*` extensions are ignored, except
- `x-ms-enum` with `modelAsString: true` is an extensible enum: any string is valid;
- `type: object` with no properties is AutoRest's "any" (Resource Graph's `data`, an array);
- `x-nullable: true` admits null; in an answer a property that is not `required` may be null too
  (Azure sends unset properties as null: `recorded-arm/site_get.json`);
- a request may not carry a `readOnly` property (the service sets it), nor a property its schema
  does not name (a name the service does not know is one it does not act on); an answer may carry both.
`format`s are not checked.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPECS = Path(__file__).parent / "specs"
_METHODS = ("get", "put", "patch", "post", "delete")
_MULTI_SEGMENT = {"scope"}  # ARM's ScopeParameter is x-ms-skip-url-encoding: it spans segments
ANY: dict[str, Any] = {}
READ_ONLY: dict[str, Any] = {"not": ANY, "description": "readOnly: set by the service, never sent"}


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    template: str
    api_version: str
    file: str  # the spec file, relative to `specs/`
    spec: dict[str, Any]

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        parts = re.split(r"(\{\w+\})", self.template)
        regex = "".join(
            ("(.+)" if part[1:-1] in _MULTI_SEGMENT else "([^/]+)") if part.startswith("{") else re.escape(part)
            for part in parts
        )
        return re.compile(regex, re.IGNORECASE)

    @property
    def name(self) -> str:
        """`Microsoft.Web/WebApps_Get`: operation ids repeat across providers (`Servers_Get`)."""
        return f"{self.template.rsplit('/providers/', 1)[-1].split('/')[0]}/{self.operation_id}"

    @property
    def literal_length(self) -> int:
        """How much of the template is fixed text: the most specific template wins a tie."""
        return len(re.sub(r"\{\w+\}", "", self.template))


class SpecLibrary:
    """Every copied spec file, its operations, and their request and answer schemas as JSON Schema."""

    def __init__(self, root: Path = SPECS) -> None:
        manifest = json.loads((root / "sources.json").read_text(encoding="utf-8"))
        self._documents = {name: json.loads((root / name).read_text(encoding="utf-8")) for name in manifest["files"]}
        self._omitted = {
            f"{name}#{pointer}" for name, entry in manifest["files"].items() for pointer in entry.get("omitted", [])
        }
        self._not_copied = set(manifest.get("not_copied", {}))

    @cached_property
    def operations(self) -> tuple[Operation, ...]:
        found = []
        for name, document in self._documents.items():
            for template, item in document.get("paths", {}).items():
                for method in _METHODS:
                    if method in item:
                        found.append(
                            Operation(
                                item[method]["operationId"],
                                method.upper(),
                                template,
                                document["info"]["version"],
                                name,
                                item[method],
                            )
                        )
        return tuple(found)

    def operation_for(self, method: str, path: str, api_version: str | None) -> Operation | None:
        """The spec operation a request is an instance of, for that api-version; None if no spec has it."""
        matches = [
            op
            for op in self.operations
            if op.method == method.upper() and op.api_version == api_version and op.pattern.fullmatch(path)
        ]
        return max(matches, key=lambda op: op.literal_length, default=None)

    def request_schema(self, operation: Operation) -> dict[str, Any] | None:
        """The body parameter's schema, or None when the operation takes no body."""
        for parameter in operation.spec.get("parameters", []):
            resolved = self._parameter(parameter, operation.file)
            if resolved is not None and resolved[0].get("in") == "body":
                body, file = resolved
                return self._convert(body["schema"], file, request=True, stack=frozenset())
        return None

    def response_schema(self, operation: Operation, status: int) -> dict[str, Any] | None:
        """The schema of an answer with this status; None when the spec declares that status without
        a body; KeyError when the spec does not declare the status at all."""
        response = operation.spec["responses"][str(status)]
        if "schema" not in response:
            return None
        return self._convert(response["schema"], operation.file, request=False, stack=frozenset())

    # -- following references -------------------------------------------------------------------
    def _parameter(self, parameter: dict[str, Any], file: str) -> tuple[dict[str, Any], str] | None:
        if "$ref" not in parameter:
            return parameter, file
        target, pointer = _locate(parameter["$ref"], file)
        if target in self._not_copied or f"{target}#{pointer}" in self._omitted:
            return None  # a path or query parameter left out: it is no body
        return self._resolve(target, pointer), target

    def _resolve(self, file: str, pointer: str) -> dict[str, Any]:
        node: Any = self._documents[file]
        for part in pointer.lstrip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        resolved: dict[str, Any] = node
        return resolved

    def _follow(self, schema: dict[str, Any], file: str) -> tuple[dict[str, Any], str] | None:
        """The schema a `$ref` names and its file; None when it was left out on purpose."""
        target, pointer = _locate(schema["$ref"], file)
        if target in self._not_copied or f"{target}#{pointer}" in self._omitted:
            return None
        return self._resolve(target, pointer), target

    # -- conversion ------------------------------------------------------------------------------
    def _convert(self, schema: dict[str, Any], file: str, *, request: bool, stack: frozenset[str]) -> dict[str, Any]:
        if "$ref" in schema:
            key = "#".join(_locate(schema["$ref"], file))
            if key in stack:
                raise ValueError(f"recursive schema at {key}: not supported here")
            followed = self._follow(schema, file)
            if followed is None:
                return ANY
            converted = self._convert(followed[0], followed[1], request=request, stack=stack | {key})
            return _nullable(converted) if schema.get("x-nullable") else converted
        if _is_object(schema):
            converted = self._object(schema, file, request=request, stack=stack)
        elif schema.get("type") == "array":
            converted = {"type": "array"}
            if "items" in schema:
                converted["items"] = self._convert(schema["items"], file, request=request, stack=stack)
        elif schema.get("type") in ("string", "integer", "number", "boolean"):
            converted = {"type": schema["type"]}
            if "enum" in schema and not schema.get("x-ms-enum", {}).get("modelAsString", False):
                converted["enum"] = list(schema["enum"])
            for keyword in ("minimum", "maximum", "minLength", "maxLength", "pattern"):
                if keyword in schema:
                    converted[keyword] = schema[keyword]
        else:
            converted = ANY  # `type: object` without properties, or no type: AutoRest's "any"
        return _nullable(converted) if schema.get("x-nullable") else converted

    def _object(self, schema: dict[str, Any], file: str, *, request: bool, stack: frozenset[str]) -> dict[str, Any]:
        properties: dict[str, tuple[dict[str, Any], str]] = {}
        required: set[str] = set()
        additional: list[tuple[Any, str]] = []
        self._gather(schema, file, properties, required, additional, stack)
        converted: dict[str, Any] = {"type": "object", "properties": {}}
        for name, (raw, raw_file) in properties.items():
            if request and _read_only(raw):
                converted["properties"][name] = READ_ONLY  # the service sets it; a request may not
                continue
            value = self._convert(raw, raw_file, request=request, stack=stack)
            converted["properties"][name] = value if request or name in required else _nullable(value)
        if required:
            converted["required"] = sorted(
                name for name in required if not (request and _read_only(properties[name][0]))
            )
        if additional:
            raw, raw_file = additional[-1]
            converted["additionalProperties"] = (
                raw if isinstance(raw, bool) else self._convert(raw, raw_file, request=request, stack=stack)
            )
        elif request:
            converted["additionalProperties"] = False
        return converted

    def _gather(
        self,
        schema: dict[str, Any],
        file: str,
        properties: dict[str, tuple[dict[str, Any], str]],
        required: set[str],
        additional: list[tuple[Any, str]],
        stack: frozenset[str],
    ) -> None:
        """Collect an object's properties through `allOf` (members first, the schema's own last)."""
        for member in schema.get("allOf", []):
            if "$ref" in member:
                followed = self._follow(member, file)
                if followed is None:
                    additional.append((True, file))  # a base left out: whatever it adds is allowed
                    continue
                self._gather(followed[0], followed[1], properties, required, additional, stack)
            else:
                self._gather(member, file, properties, required, additional, stack)
        for name, raw in schema.get("properties", {}).items():
            properties[name] = (raw, file)
        required.update(schema.get("required", []))
        if "additionalProperties" in schema:
            additional.append((schema["additionalProperties"], file))


def problems(schema: dict[str, Any], instance: Any) -> list[str]:
    """Every way `instance` breaks `schema`, each as `json/path: message`; empty when it validates."""
    errors = Draft202012Validator(schema).iter_errors(instance)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {_message(e)}" for e in errors)


def example_files(operation: Operation) -> list[str]:
    """The files the operation's `x-ms-examples` name, relative to `specs/` (copied or not)."""
    return [_locate(example["$ref"], operation.file)[0] for example in operation.spec.get("x-ms-examples", {}).values()]


def _message(error: Any) -> str:
    if error.schema is READ_ONLY or error.schema == READ_ONLY:
        return "a readOnly property: the service sets it, a request may not carry it"
    return str(error.message)


def _locate(ref: str, file: str) -> tuple[str, str]:
    target, _, pointer = ref.partition("#")
    if not target:
        return file, pointer
    return posixpath.normpath(posixpath.join(posixpath.dirname(file), target)), pointer


def _is_object(schema: dict[str, Any]) -> bool:
    return any(key in schema for key in ("properties", "allOf", "additionalProperties"))


def _read_only(raw: dict[str, Any]) -> bool:
    return bool(raw.get("readOnly"))


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if schema == ANY or "type" not in schema:
        return schema
    widened = dict(schema, type=[schema["type"], "null"])
    if "enum" in widened:
        widened["enum"] = [*widened["enum"], None]
    return widened
