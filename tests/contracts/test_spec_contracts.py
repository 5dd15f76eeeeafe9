"""The product's requests and the emulator's answers held to the official REST API specs.

A representative run — reconciles of a PostgreSQL app, a slot, a MySQL app, an app on a created
user-assigned identity and one on the catalog's, an app with Storage, Key Vault and Service Bus
targets, one of them dropped again, and an audit — goes through the product's real adapters against
the emulator, which keeps every JSON body both ways. Then, for each ARM operation the product calls,
every body it sent validates against the operation's request schema in the official spec for the
api-version the SDK sent, and every answer the emulator gave validates against the response schema
(`tests/contracts/swagger.py` says how a spec schema is read). A request no copied spec operation
describes fails the run: a new call needs its spec first.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from emulator.server import RecordedRequest
from provisioning.audit import audit
from provisioning.azure.credentials import default_credential
from provisioning.azure.servers import Servers
from provisioning.config import Config
from provisioning.models import Engine
from provisioning.resource_ids import parse_app_id, parse_resource_id
from provisioning.runtime import build_runtime
from tests.contracts.swagger import Operation, SpecLibrary, problems
from tests.estates import APPS_GROUP, SUBSCRIPTION, sql_server_id, user_identity_id

pytestmark = pytest.mark.integration

# Every ARM operation the product calls, with the adapter that calls it (provisioning/azure/).
PRODUCT_OPERATIONS = {
    "Microsoft.Web/WebApps_Get": "webapps.WebApps.read_site",
    "Microsoft.Web/WebApps_GetSlot": "webapps.WebApps.read_site (slot)",
    "Microsoft.Web/WebApps_Update": "webapps.WebApps.update_identities, set_key_vault_reference_identity",
    "Microsoft.Web/WebApps_UpdateSlot": "webapps.WebApps.update_identities (slot)",
    "Microsoft.Web/WebApps_ListApplicationSettings": "webapps.WebApps.list_settings",
    "Microsoft.Web/WebApps_ListApplicationSettingsSlot": "webapps.WebApps.list_settings (slot)",
    "Microsoft.Web/WebApps_UpdateApplicationSettings": "webapps.WebApps.write_settings",
    "Microsoft.Web/WebApps_UpdateApplicationSettingsSlot": "webapps.WebApps.write_settings (slot)",
    "Microsoft.ManagedIdentity/SystemAssignedIdentities_GetByScope": "identities.Identities.get_system_client_id",
    "Microsoft.ManagedIdentity/UserAssignedIdentities_Get": "identities.Identities.get_user_identity",
    "Microsoft.ManagedIdentity/UserAssignedIdentities_CreateOrUpdate": "identities.Identities.create_user_identity",
    "Microsoft.DBforPostgreSQL/Servers_Get": "servers.Servers.get_server",
    "Microsoft.DBforPostgreSQL/AdministratorsMicrosoftEntra_ListByServer": "servers.Servers.get_server",
    "Microsoft.DBforMySQL/Servers_Get": "servers.Servers.get_server",
    "Microsoft.DBforMySQL/AzureADAdministrators_ListByServer": "servers.Servers.get_server",
    "Microsoft.Sql/Servers_Get": "servers.Servers.get_server",
    "Microsoft.Sql/ServerAzureADAdministrators_ListByServer": "servers.Servers.get_server",
    "Microsoft.ResourceGraph/Resources": "discovery.Discovery.rows, identity_holders.IdentityHolders.list_holders",
    "Microsoft.Authorization/RoleAssignments_ListForSubscription": (
        "role_assignments.RoleAssignments.list_for_principal"
    ),
    "Microsoft.Authorization/RoleAssignments_ListForScope": "role_assignments.RoleAssignments.list_at",
    "Microsoft.Authorization/RoleAssignments_Create": "role_assignments.RoleAssignments.create",
    "Microsoft.Authorization/RoleAssignments_Delete": "role_assignments.RoleAssignments.delete",
    "Microsoft.Storage/StorageAccounts_GetProperties": "resource_endpoints.ResourceEndpoints.get_endpoint",
    "Microsoft.KeyVault/Vaults_Get": "resource_endpoints.ResourceEndpoints.get_endpoint",
    "Microsoft.ServiceBus/Namespaces_Get": "resource_endpoints.ResourceEndpoints.get_endpoint",
}


@dataclass(frozen=True)
class Exchange:
    request: RecordedRequest
    operation: Operation | None


@pytest.fixture(scope="module")
def library() -> SpecLibrary:
    return SpecLibrary()


@pytest.fixture(scope="module")
def exchanges(
    emulator: Any,
    product_environment: dict[str, str],
    local_mysql: dict[str, Any],
    estate: dict[str, Any],
    library: SpecLibrary,
) -> Iterator[list[Exchange]]:
    """The ARM requests of one representative run, each with the spec operation it is an instance of."""
    runtime = build_runtime(Config.from_environment())
    reconcile = runtime.reconciler.reconcile_app
    run = uuid.uuid4().hex[:6]

    def site(tags: dict[str, str], *, name: str | None = None, slot: str | None = None) -> Any:
        return parse_app_id(
            emulator.create_site(SUBSCRIPTION, APPS_GROUP, name or f"spec-{uuid.uuid4().hex[:8]}", tags=tags, slot=slot)
        )

    start = len(emulator.requests)
    emulator.keep_bodies()
    try:
        postgres = site({"passwordless": "orders:reader"}, name=f"spec-pg-{run}")
        reconcile(postgres)
        reconcile(site({"passwordless": "orders:writer"}, name=postgres.site, slot="staging"))
        reconcile(site({"passwordless": "orders-mysql:reader"}))
        reconcile(
            site({"passwordless": "orders:reader; partner-key:reader", "passwordless-identity": f"create:spec-{run}"})
        )
        reconcile(
            site({"passwordless": "orders:reader", "passwordless-identity": user_identity_id(APPS_GROUP, "shared-id")})
        )
        rbac = site({"passwordless": "invoices:reader; jobs:sender; payments-kv:reader; orders-bus:sender"})
        reconcile(rbac)
        emulator.set_tags(rbac.id, {"passwordless": "invoices:reader; payments-kv:reader; orders-bus:sender"})
        reconcile(rbac)  # jobs is dropped: its role assignment is deleted (on_remove: revoke)
        Servers(default_credential(), runtime.config).get_server(Engine.SQL, parse_resource_id(sql_server_id(estate)))
        ours = {s.app.key for s in runtime.discovery.list_tagged_apps() if "spec-" in s.app.site}
        audit(runtime.reconciler, [s for s in runtime.discovery.list_tagged_apps() if s.app.key in ours])
    finally:
        emulator.keep_bodies(False)
    arm = [
        r for r in emulator.requests[start:] if r.kind != "token" and not r.path.startswith(("/topics/", "/_emulator/"))
    ]
    yield [Exchange(r, library.operation_for(r.method, r.path, r.api_version)) for r in arm]


@pytest.fixture(scope="module")
def by_operation(exchanges: list[Exchange]) -> dict[str, list[RecordedRequest]]:
    grouped: dict[str, list[RecordedRequest]] = defaultdict(list)
    for exchange in exchanges:
        if exchange.operation is not None:
            grouped[exchange.operation.name].append(exchange.request)
    return grouped


def test_every_request_of_a_reconcile_and_audit_is_a_spec_operation(exchanges: list[Exchange]) -> None:
    unknown = sorted(
        {
            f"{e.request.method} {e.request.path} api-version={e.request.api_version}"
            for e in exchanges
            if e.operation is None
        }
    )
    assert not unknown, "requests no copied spec operation describes (copy the spec first):\n" + "\n".join(unknown)


@pytest.mark.parametrize("name", sorted(PRODUCT_OPERATIONS))
def test_the_request_and_the_answer_validate_against_the_spec(
    name: str, by_operation: dict[str, list[RecordedRequest]], library: SpecLibrary
) -> None:
    calls = by_operation.get(name)
    assert calls, f"{name} ({PRODUCT_OPERATIONS[name]}) was not exercised by the representative run"
    operation = library.operation_for(calls[0].method, calls[0].path, calls[0].api_version)
    assert operation is not None
    request_schema = library.request_schema(operation)
    failures: list[str] = []
    for call in calls:
        if request_schema is None:
            if call.body is not None:
                failures.append(f"{call.method} {call.path}: a body the operation does not take")
        else:
            failures += [f"request {call.path}: {p}" for p in problems(request_schema, call.body)]
        if call.status >= 400:
            continue  # error answers are held to the recordings (tests/emulator/test_emulator_vs_recordings.py)
        assert str(call.status) in operation.spec["responses"], f"{call.path}: status {call.status} is not in the spec"
        answer_schema = library.response_schema(operation, call.status)
        if answer_schema is not None:
            failures += [f"answer {call.path}: {p}" for p in problems(answer_schema, call.answer)]
    assert not failures, "\n".join(failures)
