"""Load and validate the platform team's target catalog; every error names the entry and field."""

from __future__ import annotations

import io
import json
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any

from provisioning.engines.dialects import DIALECTS
from provisioning.errors import FieldErrors, InvalidRequest
from provisioning.models import (
    AdminGroup,
    Catalog,
    Engine,
    OfferedIdentity,
    OnRemove,
    Privilege,
    RoleProfile,
    SqlBinding,
    Target,
    TlsMode,
)
from provisioning.rbac_targets import TARGET_NAME, RbacTarget, is_rbac_entry, rbac_target
from provisioning.resource_ids import ResourceId, parse_resource_id
from provisioning.settings import setting_infix

BUILTIN_PROFILES: dict[str, RoleProfile] = {
    "reader": RoleProfile("reader", frozenset({Privilege.SELECT})),
    "writer": RoleProfile(
        "writer",
        frozenset({Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE, Privilege.DELETE}),
    ),
    "ddl": RoleProfile(
        "ddl",
        frozenset({Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE, Privilege.DELETE, Privilege.CREATE}),
    ),
}

SERVER_TYPES = {engine: dialect.server_type for engine, dialect in DIALECTS.items()}
IDENTITY_TYPE = "microsoft.managedidentity/userassignedidentities"
TARGET_FIELDS = {
    "name", "engine", "server", "database", "schemas", "roles", "allowed_sources",
    "tls", "on_remove", "owner_role", "sql_binding",
}  # fmt: skip


def load_catalog(location: str) -> Catalog:
    """Read a catalog from a local JSON or YAML file."""
    path = Path(location)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(f"catalog {location!r} cannot be read: {exc.strerror}", field="catalog") from exc
    return parse_catalog(text, source=location)


def parse_catalog(text: str, *, source: str = "catalog") -> Catalog:
    """Parse catalog text (JSON, or YAML when PyYAML is present) and validate it whole."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        import yaml

        try:
            document = yaml.safe_load(named_stream(text, source))
        except yaml.YAMLError as exc:
            raise InvalidRequest(f"{source}: neither valid JSON nor YAML: {exc}", field="catalog") from exc
    return catalog_from_document(document)


def named_stream(text: str, source: str) -> io.StringIO:
    """YAML names the stream in its error marks: the file's name, not ``<unicode string>``."""
    stream = io.StringIO(text)
    stream.name = source
    return stream


def catalog_from_document(document: Any) -> Catalog:
    if not isinstance(document, dict):
        raise InvalidRequest("catalog: the document must be a mapping with 'targets'", field="catalog")
    unknown = set(document) - {"targets", "profiles", "admin_group", "identities"}
    if unknown:
        raise InvalidRequest(f"catalog: unknown top-level field(s) {sorted(map(str, unknown))}", field="catalog")
    profiles = dict(BUILTIN_PROFILES)
    profiles.update(_profiles(document.get("profiles") or {}))
    admin_group = _admin_group(document.get("admin_group"))
    identities = _identities(document.get("identities"))
    raw_targets = document.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise InvalidRequest("catalog.targets: a non-empty list is required", field="catalog.targets")
    targets: dict[str, Target] = {}
    rbac_targets: dict[str, RbacTarget] = {}
    by_infix: dict[str, str] = {}
    for index, raw in enumerate(raw_targets):
        target = rbac_target(raw, index) if is_rbac_entry(raw) else _target(raw, index, profiles)
        where = f"catalog.targets[{index}].name"
        if target.name in targets or target.name in rbac_targets:
            raise InvalidRequest(f"{where}: {target.name!r} is defined twice", field=where)
        if isinstance(target, RbacTarget):
            rbac_targets[target.name] = target
            continue
        infix = setting_infix(target.name)
        if infix in by_infix:
            raise InvalidRequest(
                f"{where}: {target.name!r} and {by_infix[infix]!r} would share app-setting names "
                f"(both write ..._{infix[1:]}_...); rename one of them",
                field=where,
            )
        targets[target.name] = target
        by_infix[infix] = target.name
    return Catalog(
        targets=targets,
        profiles=profiles,
        admin_group=admin_group,
        identities=identities,
        rbac_targets=rbac_targets,
    )


def _identities(raw: Any) -> dict[str, OfferedIdentity]:
    """``identities: [{id: <user-assigned identity id>, allowed_sources: [<ARM scope>, ...]}]``; every
    entry and field is checked (``InvalidRequest.also``)."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise InvalidRequest("catalog.identities: a list is required", field="catalog.identities")
    offered: dict[str, OfferedIdentity] = {}
    errors = FieldErrors()
    for index, entry in enumerate(raw):
        where = f"catalog.identities[{index}]"
        if not isinstance(entry, dict):
            errors.add(InvalidRequest(f"{where}: a mapping is required", field=where))
            continue
        unknown = set(entry) - {"id", "allowed_sources"}
        if unknown:
            errors.add(InvalidRequest(f"{where}: unknown field(s) {sorted(map(str, unknown))}", field=where))
        rid = errors.check(partial(_identity_id, entry.get("id"), where))
        sources = errors.check(partial(_scopes, entry.get("allowed_sources"), f"{where}.allowed_sources"))
        if rid is not None and rid.key in offered:
            errors.add(InvalidRequest(f"{where}.id: {rid.id} is listed twice", field=f"{where}.id"))
        elif rid is not None and sources is not None:
            offered[rid.key] = OfferedIdentity(rid.id, sources)
    errors.raise_any()
    return offered


def _identity_id(value: Any, where: str) -> ResourceId:
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}.id: a user-assigned identity resource id is required", field=f"{where}.id")
    rid = parse_resource_id(value.strip(), field=f"{where}.id")
    if rid.full_type != IDENTITY_TYPE or len(rid.names) != 1:
        raise InvalidRequest(f"{where}.id: a {IDENTITY_TYPE} id is required, got {rid.full_type}", field=f"{where}.id")
    return rid


def _scopes(value: Any, where: str) -> tuple[str, ...]:
    """ARM scopes (subscription, resource group or resource id prefix) whose apps may ask."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidRequest(
            f"{where}: list the subscriptions, resource groups or id prefixes whose apps may ask", field=where
        )
    for scope in value:
        check_scope(scope, where)
    return tuple(v.strip() for v in value)


def check_scope(scope: str, where: str) -> None:
    """``/subscriptions/<id>[/resourceGroups/<rg>[/...]]`` with no empty segment: ``/subscriptions/``
    alone (or ``/subscriptions//x``) would be a prefix of every app id, offering the entry to everyone."""
    segments = scope.strip().strip("/").split("/")
    if segments[0].lower() != "subscriptions" or len(segments) < 2 or any(not s or s != s.strip() for s in segments):
        raise InvalidRequest(
            f"{where}: {scope!r} is not an ARM scope (/subscriptions/<id>[/resourceGroups/<name>...])", field=where
        )


def _profiles(raw: Any) -> dict[str, RoleProfile]:
    if not isinstance(raw, dict):
        raise InvalidRequest(
            "catalog.profiles: a mapping of name to privilege list is required", field="catalog.profiles"
        )
    profiles: dict[str, RoleProfile] = {}
    errors = FieldErrors()  # every bad profile and privilege, not only the first
    allowed = [p.value for p in Privilege]
    for name, privileges in raw.items():
        where = f"catalog.profiles.{name}"
        if name in BUILTIN_PROFILES:
            errors.add(InvalidRequest(f"{where}: {name!r} is a built-in profile and cannot be redefined", field=where))
        if not isinstance(privileges, list) or not privileges:
            errors.add(InvalidRequest(f"{where}: a non-empty list of privileges is required", field=where))
            continue
        chosen = set()
        for item in privileges:
            if not isinstance(item, str) or item.upper() not in allowed:
                errors.add(InvalidRequest(f"{where}: {item!r} is not one of {allowed}", field=where))
                continue
            chosen.add(Privilege(item.upper()))
        profiles[name] = RoleProfile(name, frozenset(chosen))
    errors.raise_any()
    return profiles


def _admin_group(raw: Any) -> AdminGroup | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("object_id"), str) or not isinstance(raw.get("name"), str):
        raise InvalidRequest("catalog.admin_group: needs 'object_id' and 'name' strings", field="catalog.admin_group")
    return AdminGroup(object_id=raw["object_id"].lower(), name=raw["name"])


def _target(raw: Any, index: int, profiles: dict[str, RoleProfile]) -> Target:
    """One database target. Every field is checked, so an entry with several errors names them all
    (``InvalidRequest.also``); a check that needs another field (the server's type needs the engine)
    is left out while that field is wrong."""
    where = f"catalog.targets[{index}]"
    if not isinstance(raw, dict):
        raise InvalidRequest(f"{where}: a mapping is required", field=where)
    errors = FieldErrors()
    unknown = set(raw) - TARGET_FIELDS
    if unknown:
        errors.add(InvalidRequest(f"{where}: unknown field(s) {sorted(map(str, unknown))}", field=where))

    def text(key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InvalidRequest(f"{where}.{key}: a non-empty string is required", field=f"{where}.{key}")
        return value.strip()

    def strings(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = raw.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise InvalidRequest(f"{where}.{key}: a list of non-empty strings is required", field=f"{where}.{key}")
        return tuple(v.strip() for v in value)

    def choice(key: str, enum: type[Enum], default: str | None) -> str:
        value = raw.get(key, default)
        allowed = [e.value for e in enum]
        if value not in allowed:
            raise InvalidRequest(f"{where}.{key}: {value!r} is not one of {allowed}", field=f"{where}.{key}")
        return str(value)

    def checked_name() -> str:
        name = text("name")
        if not TARGET_NAME.match(name):
            raise InvalidRequest(
                f"{where}.name: {name!r} must be lower-case letters, digits, '-' or '_', starting with a letter",
                field=f"{where}.name",
            )
        return name

    name = errors.check(checked_name)
    if name is not None:
        where = f"catalog.targets[{name}]"
    engine = errors.check(lambda: Engine(choice("engine", Engine, None)))
    dialect = DIALECTS[engine] if engine is not None else None
    server = errors.check(lambda: parse_resource_id(text("server"), field=f"{where}.server"))
    if (
        engine is not None
        and server is not None
        and (server.full_type != SERVER_TYPES[engine] or len(server.names) != 1)
    ):
        errors.add(
            InvalidRequest(
                f"{where}.server: an {engine.value} target needs a {SERVER_TYPES[engine]} id, got {server.full_type}",
                field=f"{where}.server",
            )
        )
    roles = errors.check(lambda: strings("roles", ()))
    if roles is not None and not roles:
        errors.add(InvalidRequest(f"{where}.roles: list at least one role profile", field=f"{where}.roles"))
    for role in roles or ():
        if role not in profiles:
            errors.add(
                InvalidRequest(
                    f"{where}.roles: {role!r} is not a known profile ({sorted(profiles)})", field=f"{where}.roles"
                )
            )
    sources = errors.check(lambda: strings("allowed_sources", ()))
    if sources is not None and not sources:
        errors.add(
            InvalidRequest(
                f"{where}.allowed_sources: list the subscriptions, resource groups or id prefixes whose apps may "
                "connect",
                field=f"{where}.allowed_sources",
            )
        )
    for source in sources or ():
        errors.check(partial(check_scope, source, f"{where}.allowed_sources"))
    schemas = errors.check(lambda: strings("schemas", dialect.default_schemas if dialect is not None else ()))
    if dialect is not None and not dialect.default_schemas and raw.get("schemas"):
        errors.add(
            InvalidRequest(
                f"{where}.schemas: {dialect.label} has no schemas inside a database", field=f"{where}.schemas"
            )
        )
    owner_role = raw.get("owner_role")
    if owner_role is not None and (
        not isinstance(owner_role, str) or (dialect is not None and "owner_role" not in dialect.catalog_options)
    ):
        errors.add(
            InvalidRequest(f"{where}.owner_role: a string, and only for postgres targets", field=f"{where}.owner_role")
        )
    database = errors.check(lambda: text("database"))
    tls = errors.check(lambda: TlsMode(choice("tls", TlsMode, TlsMode.REQUIRE.value)))
    on_remove = errors.check(lambda: OnRemove(choice("on_remove", OnRemove, OnRemove.REPORT.value)))
    offered = dialect is None or "sql_binding" in dialect.catalog_options  # unknown engine: not judged
    sql_binding = errors.check(lambda: _sql_binding(raw, offered, where))
    errors.raise_any()
    assert name and engine and server and roles and sources and schemas is not None and database  # checked above
    assert tls is not None and on_remove is not None and sql_binding is not None
    return Target(
        name=name,
        engine=engine,
        server=server,
        database=database,
        schemas=schemas,
        roles=frozenset(roles),
        allowed_sources=sources,
        tls=tls,
        on_remove=on_remove,
        owner_role=owner_role,
        sql_binding=sql_binding,
    )


def _sql_binding(raw: dict[str, Any], offered: bool, where: str) -> SqlBinding:
    value = raw.get("sql_binding", SqlBinding.SID.value)
    allowed = [b.value for b in SqlBinding]
    if value not in allowed or ("sql_binding" in raw and not offered):
        raise InvalidRequest(
            f"{where}.sql_binding: one of {allowed}, and only for sql targets", field=f"{where}.sql_binding"
        )
    return SqlBinding(value)
