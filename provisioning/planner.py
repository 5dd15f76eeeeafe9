"""plan(desired, observed) -> Plan. Pure: no I/O, so every decision is table-testable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from provisioning.errors import Conflict
from provisioning.models import AppRequest, DatabaseState, ServerInfo, SiteState
from provisioning.plan import (
    CreatePrincipal,
    EnableSystemIdentity,
    GrantPrivileges,
    Plan,
    RebindPrincipal,
    RevokePrivileges,
    SetAppSettings,
    Step,
)
from provisioning.policy import Grantable
from provisioning.principal_names import principal_name
from provisioning.privileges import expected_grants
from provisioning.settings import (
    MANAGED_KEYS_SETTING,
    Connection,
    format_managed_keys,
    infer_client,
    parse_managed_keys,
    settings_for,
)


@dataclass(frozen=True)
class Desired:
    request: AppRequest
    connections: tuple[Grantable, ...]


@dataclass(frozen=True)
class Observed:
    site: SiteState
    servers: Mapping[str, ServerInfo]
    databases: Mapping[str, DatabaseState]


def plan(desired: Desired, observed: Observed) -> Plan:
    """Ordered steps: identity, then principals, then grants (before revokes), then settings."""
    app = desired.request.app
    steps: list[Step] = []
    if observed.site.system_principal_id is None:
        steps.append(EnableSystemIdentity(app, keep_user_assigned=tuple(sorted(observed.site.user_assigned))))

    recreated: set[str] = set()
    seen_servers: set[str] = set()
    for connection in desired.connections:
        target = connection.target
        state = observed.databases[target.name]
        name = principal_name(app, target.engine)
        if target.server.key in seen_servers:
            continue
        seen_servers.add(target.server.key)
        kind = target.binding_kind
        binding = observed.site.binding(kind)
        if state.principal is None:
            steps.append(CreatePrincipal(target.name, name, binding, kind))
            recreated.add(target.server.key)
        elif binding is None or state.principal.binding != binding:
            if state.principal.binding is None:
                raise Conflict(
                    f"{target.name}: a database principal named {name!r} exists but is not bound to any "
                    "Entra identity; it was not made by this provisioner, so it is left alone"
                )
            steps.append(RebindPrincipal(target.name, name, state.principal.binding, binding, kind))
            recreated.add(target.server.key)

    for connection in desired.connections:
        target = connection.target
        state = observed.databases[target.name]
        name = principal_name(app, target.engine)
        wanted = expected_grants(target, connection.profile, state)
        held = frozenset() if target.server.key in recreated else state.grants
        missing = tuple(sorted(wanted - held))
        excess = tuple(sorted(held - wanted))
        if missing:
            steps.append(GrantPrivileges(target.name, name, missing))
        if excess:
            steps.append(RevokePrivileges(target.name, name, excess))

    settings_step = _plan_settings(desired, observed)
    if settings_step is not None:
        steps.append(settings_step)
    return Plan(app, tuple(steps))


def desired_settings(desired: Desired, observed: Observed) -> dict[str, str]:
    client = desired.request.client or infer_client(observed.site.linux_fx_version)
    settings: dict[str, str] = {}
    engines_seen: set[str] = set()
    for connection in desired.connections:
        target = connection.target
        settings |= settings_for(
            Connection(
                engine=target.engine,
                target=target.name,
                fqdn=observed.servers[target.server.key].fqdn,
                database=target.database,
                principal=principal_name(desired.request.app, target.engine),
                tls=target.tls,
                client=client,
                first_of_engine=target.engine.value not in engines_seen,
            )
        )
        engines_seen.add(target.engine.value)
    return settings


def _plan_settings(desired: Desired, observed: Observed) -> SetAppSettings | None:
    current = observed.site.app_settings
    wanted = desired_settings(desired, observed)
    wanted[MANAGED_KEYS_SETTING] = format_managed_keys(frozenset(wanted))
    previously_managed = parse_managed_keys(current.get(MANAGED_KEYS_SETTING))
    to_set = tuple(sorted((k, v) for k, v in wanted.items() if current.get(k) != v))
    to_remove = tuple(sorted(k for k in previously_managed - set(wanted) if k in current))
    if not to_set and not to_remove:
        return None
    absent = tuple(k for k, _ in to_set if k not in current)
    return SetAppSettings(desired.request.app, set=to_set, remove=to_remove, absent=absent)
