"""One app as an operator asks about it: identity, each connection's principal, binding and grants,
the managed settings, the drift and the latest runs. Read-only: a plan, never an apply."""

from __future__ import annotations

from typing import Any

from provisioning.audit import drift_of, drift_of_error
from provisioning.errors import AdminMissing, InvalidRequest, PolicyViolation, ProvisioningError
from provisioning.policy import authorize_entries
from provisioning.principal_names import principal_name
from provisioning.reconciler import Mode
from provisioning.requests import is_requested, request_from_setting, request_from_tags
from provisioning.resource_ids import AppRef
from provisioning.runtime import Runtime
from provisioning.settings import MANAGED_KEYS_SETTING, REQUEST_SETTING, parse_managed_keys


def app_status(runtime: Runtime, app: AppRef, *, runs: int = 5) -> dict[str, Any]:
    site = runtime.webapps.get_site(app)
    managed = parse_managed_keys(site.app_settings.get(MANAGED_KEYS_SETTING))
    document: dict[str, Any] = {
        "app": app.id,
        "name": app.display_name,
        "subscription": app.subscription,
        "resource_group": app.resource_group,
        "identity": {
            "system_principal_id": site.system_principal_id,
            "user_assigned": {
                rid: {"principal_id": ids.principal_id, "client_id": ids.client_id}
                for rid, ids in sorted(site.user_assigned.items())
            },
        },
        "settings": {key: site.app_settings[key] for key in sorted(managed) if key in site.app_settings},
        "connections": [],
        "drift": [],
    }
    prefix = runtime.reconciler.tag_prefix
    try:
        if is_requested(site.tags, prefix=prefix):
            request = request_from_tags(app, site.tags, prefix=prefix)
        elif REQUEST_SETTING in site.app_settings:
            request = request_from_setting(app, site.app_settings[REQUEST_SETTING])
        else:
            request = None
        connections = authorize_entries(request, runtime.reconciler.catalog)[0] if request else ()
        result = runtime.reconciler.reconcile_app(app, Mode.PLAN)
    except (InvalidRequest, PolicyViolation, AdminMissing) as exc:
        found = drift_of_error(exc)
        assert found is not None
        document |= {"requested": True, "in_sync": False, "drift": [_drift(found)]}
        connections = ()
    else:
        document |= {
            "requested": request is not None,
            "in_sync": result is not None and result.plan.empty and not result.plan.skipped,
            "drift": [_drift(d) for d in drift_of(result.plan, runtime.reconciler.catalog)] if result else [],
        }
    with runtime.reconciler.batch() as batch:
        for grantable in connections:
            target = grantable.target
            principal = principal_name(app, target.engine)
            entry: dict[str, Any] = {
                "target": target.name,
                "role": grantable.profile.name,
                "engine": target.engine.value,
                "server": target.server.id,
                "database": target.database,
                "principal": principal,
            }
            try:
                batch.open(target)
                state = batch.get(target).observe(target, principal)
            except ProvisioningError as exc:
                entry["error"] = str(exc)
                state = None
            if state is not None:
                entry["binding"] = state.principal.binding if state.principal else None
                entry["grants"] = sorted(
                    f"{g.privilege} on {g.object_kind} {'.'.join(g.object_name)}" for g in state.grants
                )
            document["connections"].append(entry)
    document["runs"] = runtime.runs.list_runs(app, limit=runs)
    return document


def _drift(drift: Any) -> dict[str, Any]:
    return {"kind": drift.kind.value, "target": drift.target, "detail": drift.detail}
