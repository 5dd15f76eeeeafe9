"""Composition root of the core: real adapters wired from configuration (no test hooks)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from provisioning.audit_fanout import AuditRuns
from provisioning.azure.arm import PACING
from provisioning.azure.audit_store import AuditStore
from provisioning.azure.credentials import default_credential
from provisioning.azure.discovery import Discovery
from provisioning.azure.identities import Identities
from provisioning.azure.identity_holders import IdentityHolders
from provisioning.azure.locks import AppLocks
from provisioning.azure.outcome_events import OutcomeEvents
from provisioning.azure.request_index import RequestIndex
from provisioning.azure.role_assignments import RoleAssignments
from provisioning.azure.runs import RunRecords
from provisioning.azure.servers import Servers
from provisioning.azure.webapps import WebApps
from provisioning.catalog import load_catalog
from provisioning.config import Config
from provisioning.engines.base import DatabaseSession
from provisioning.engines.dialects import dialect_for
from provisioning.engines.sessions import open_session as open_engine_session
from provisioning.models import Engine, ServerInfo
from provisioning.outcomes import Outcomes
from provisioning.reconciler import Reconciler
from provisioning.requested_apps import RequestedApps


@dataclass(frozen=True)
class Runtime:
    config: Config
    reconciler: Reconciler
    webapps: WebApps
    discovery: Discovery
    requested: RequestedApps  # the audit's discovery: tagged apps, and apps requested over HTTP
    runs: RunRecords
    outcomes: Outcomes
    audit_store: AuditStore
    audits: AuditRuns


def build_runtime(config: Config) -> Runtime:
    credential = default_credential()

    def open_session(engine: Engine, server: ServerInfo, login: str) -> DatabaseSession:
        scope = config.cloud.token_scope(dialect_for(engine).token_audience)

        def token() -> str:
            return credential.get_token(scope).token

        return open_engine_session(engine, server, login, token)

    webapps = WebApps(credential, config)
    identities = Identities(credential, config)
    index = RequestIndex(credential, config)
    reconciler = Reconciler(
        load_catalog(config.catalog),
        webapps=webapps,
        identities=identities,
        identity_holders=IdentityHolders(credential, config, identities),
        servers=Servers(credential, config),
        open_session=open_session,
        locks=AppLocks(credential, config),
        function_object_id=config.function_object_id,
        tag_prefix=config.tag_prefix,
        roles=RoleAssignments(credential, config),
        request_index=index,
    )
    runs = RunRecords(credential, config)
    outcomes = Outcomes(runs, OutcomeEvents(credential, config))
    discovery = Discovery(credential, config)
    requested = RequestedApps(discovery, index)
    store = AuditStore(credential, config)
    audits = AuditRuns(reconciler, requested, store, outcomes, PACING)
    return Runtime(config, reconciler, webapps, discovery, requested, runs, outcomes, store, audits)


@lru_cache(maxsize=1)
def shared_runtime() -> Runtime:
    """One runtime per worker process, so clients and server caches survive invocations."""
    return build_runtime(Config.from_environment())
