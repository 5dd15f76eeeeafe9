"""The estate and catalog integration tests run against; names carry a run id so runs never collide."""

from __future__ import annotations

from typing import Any

from provisioning.catalog import catalog_from_document
from provisioning.rbac_roles import RBAC_ADMINISTRATOR, delegation_condition

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
TENANT = "11111111-1111-1111-1111-111111111111"
FUNCTION_OBJECT_ID = "5f0c1a7e-0000-4000-8000-00000000f001"
FUNCTION_CLIENT_ID = "5f0c1a7e-0000-4000-8000-00000000c001"
APPS_GROUP = "rg-apps"
DATA_GROUP = "rg-data"
TEAM_B_GROUP = "rg-team-b"  # another team's apps: the same targets, its own identity
STORAGE, VAULT, NAMESPACE = "stshop", "kv-pay", "sb-shop"
DATA = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{DATA_GROUP}/providers"
ACCOUNT_ID = f"{DATA}/Microsoft.Storage/storageAccounts/{STORAGE}"
VAULT_ID = f"{DATA}/Microsoft.KeyVault/vaults/{VAULT}"
# The RBAC targets of the test catalog, by name: their narrowest scopes.
RBAC_SCOPES = {
    "invoices": f"{ACCOUNT_ID}/blobServices/default/containers/invoices",
    "jobs": f"{ACCOUNT_ID}/queueServices/default/queues/jobs",
    "payments-kv": f"{VAULT_ID}/secrets/stripe-key",
    "partner-key": f"{VAULT_ID}/secrets/partner-key",
    "orders-bus": f"{DATA}/Microsoft.ServiceBus/namespaces/{NAMESPACE}/queues/orders",
}


def build_estate(run_id: str, *, mysql_port: int = 3306) -> dict[str, Any]:
    """``mysql_port``: where the local MySQL shim proxy listens (the server's ``databasePort``).

    The function holds Role Based Access Control Administrator on the subscription under the
    delegation condition built from the catalog's RBAC roles, as infra/ deploys it."""
    estate = _estate(run_id, mysql_port)
    roles = catalog_from_document(build_catalog(estate)).role_definition_ids()
    estate["role_assignments"] = [
        {
            "scope": f"/subscriptions/{SUBSCRIPTION}",
            "role": RBAC_ADMINISTRATOR,
            "principal": "function",
            "condition": delegation_condition(roles),
        }
    ]
    return estate


def _estate(run_id: str, mysql_port: int) -> dict[str, Any]:
    return {
        "tenant_id": TENANT,
        "function_identity": {
            "name": f"passwordless-func-{run_id}",
            "object_id": FUNCTION_OBJECT_ID,
            "client_id": FUNCTION_CLIENT_ID,
        },
        "subscriptions": [
            {
                "id": SUBSCRIPTION,
                "resource_groups": [
                    {
                        "name": APPS_GROUP,
                        "location": "westeurope",
                        "sites": [],
                        "user_assigned_identities": [{"name": "shared-id"}],
                    },
                    {
                        "name": DATA_GROUP,
                        "location": "westeurope",
                        "sql_servers": [
                            {
                                "name": f"sql-sales-{run_id}",
                                "administrator": {
                                    "object_id": FUNCTION_OBJECT_ID,
                                    "login": f"passwordless-func-{run_id}",
                                    "type": "Application",
                                },
                                "databases": ["sales"],
                            }
                        ],
                        "postgres_servers": [
                            {
                                "name": f"pg-orders-{run_id}",
                                "fqdn": "127.0.0.1",
                                "port": 5432,
                                "administrators": [
                                    {
                                        "object_id": FUNCTION_OBJECT_ID,
                                        "principal_name": f"passwordless-func-{run_id}",
                                        "principal_type": "ServicePrincipal",
                                    }
                                ],
                                "databases": [f"orders_{run_id}", f"ledger_{run_id}"],
                            },
                            {  # a server whose Entra admin is someone else: the admin check must refuse it
                                "name": f"pg-foreign-{run_id}",
                                "fqdn": "127.0.0.1",
                                "port": 5432,
                                "administrators": [
                                    {
                                        "object_id": "0dd00000-0000-4000-8000-00000000f0e1",
                                        "principal_name": f"someone-else-{run_id}",
                                        "principal_type": "User",
                                    }
                                ],
                                "databases": [f"foreign_{run_id}"],
                            },
                        ],
                        "mysql_servers": [
                            {
                                "name": f"mysql-orders-{run_id}",
                                "fqdn": "127.0.0.1",
                                "port": mysql_port,
                                "administrator": {
                                    "object_id": FUNCTION_OBJECT_ID,
                                    "login": f"passwordless-func-{run_id}",
                                },
                                "databases": [f"orders_{run_id}", f"audit_{run_id}"],
                            }
                        ],
                        "storage_accounts": [
                            {"name": STORAGE, "containers": ["invoices", "archive", "files"], "queues": ["jobs"]}
                        ],
                        "key_vaults": [{"name": VAULT, "secrets": {"stripe-key": "sk-test-1", "partner-key": "pk-2"}}],
                        "servicebus_namespaces": [
                            {"name": NAMESPACE, "queues": ["orders"], "topics": {"events": ["audit"]}}
                        ],
                    },
                    {"name": "rg-elsewhere", "location": "westeurope", "sites": []},
                    {
                        "name": TEAM_B_GROUP,
                        "location": "westeurope",
                        "sites": [],
                        "user_assigned_identities": [{"name": "team-b-prod-id"}],
                    },
                ],
            }
        ],
    }


def server_id(estate: dict[str, Any]) -> str:
    server = estate["subscriptions"][0]["resource_groups"][1]["postgres_servers"][0]
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{DATA_GROUP}"
        f"/providers/Microsoft.DBforPostgreSQL/flexibleServers/{server['name']}"
    )


def mysql_server(estate: dict[str, Any]) -> dict[str, Any]:
    return dict(estate["subscriptions"][0]["resource_groups"][1]["mysql_servers"][0])


def mysql_server_id(estate: dict[str, Any]) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{DATA_GROUP}"
        f"/providers/Microsoft.DBforMySQL/flexibleServers/{mysql_server(estate)['name']}"
    )


def sql_server(estate: dict[str, Any]) -> dict[str, Any]:
    return dict(estate["subscriptions"][0]["resource_groups"][1]["sql_servers"][0])


def sql_server_id(estate: dict[str, Any]) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{DATA_GROUP}"
        f"/providers/Microsoft.Sql/servers/{sql_server(estate)['name']}"
    )


def user_identity_id(group: str, name: str) -> str:
    provider = "providers/Microsoft.ManagedIdentity/userAssignedIdentities"
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/{provider}/{name}"


def build_catalog(estate: dict[str, Any]) -> dict[str, Any]:
    server = estate["subscriptions"][0]["resource_groups"][1]["postgres_servers"][0]
    both_teams = [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{g}" for g in (APPS_GROUP, TEAM_B_GROUP)]
    return {
        "profiles": {"auditor": ["SELECT"]},
        "identities": [
            {
                "id": user_identity_id(APPS_GROUP, "shared-id"),
                "allowed_sources": [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}"],
            },
            {
                "id": user_identity_id(TEAM_B_GROUP, "team-b-prod-id"),
                "allowed_sources": [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{TEAM_B_GROUP}"],
            },
        ],
        "targets": [
            {
                "name": "orders",
                "engine": "postgres",
                "server": server_id(estate),
                "database": server["databases"][0],
                "roles": ["reader", "writer", "ddl", "auditor"],
                "allowed_sources": both_teams,
                "tls": "disable",
            },
            {
                "name": "ledger",
                "engine": "postgres",
                "server": server_id(estate),
                "database": server["databases"][1],
                "roles": ["reader", "writer"],
                "allowed_sources": both_teams,
                "tls": "disable",
                "on_remove": "revoke",
            },
            {
                "name": "foreign",
                "engine": "postgres",
                "server": server_id(estate).replace("pg-orders-", "pg-foreign-"),
                "database": estate["subscriptions"][0]["resource_groups"][1]["postgres_servers"][1]["databases"][0],
                "roles": ["reader"],
                "allowed_sources": [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}"],
                "tls": "disable",
            },
            {
                "name": "orders-mysql",
                "engine": "mysql",
                "server": mysql_server_id(estate),
                "database": mysql_server(estate)["databases"][0],
                "roles": ["reader", "writer", "ddl", "auditor"],
                "allowed_sources": both_teams,
                "tls": "disable",
            },
            {
                "name": "sales",
                "engine": "sql",
                "server": sql_server_id(estate),
                "database": sql_server(estate)["databases"][0],
                "roles": ["reader", "writer", "ddl"],
                "allowed_sources": [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}"],
            },
            *rbac_catalog_targets(),
        ],
    }


def rbac_catalog_targets() -> list[dict[str, Any]]:
    apps = [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{APPS_GROUP}"]
    entries: list[dict[str, Any]] = [
        {
            "name": "invoices",
            "kind": "storage-blob",
            "resource": RBAC_SCOPES["invoices"],
            "roles": ["reader", "writer"],
        },
        {
            "name": "jobs",
            "kind": "storage-queue",
            "resource": RBAC_SCOPES["jobs"],
            "roles": ["sender", "processor"],
            "on_remove": "revoke",
        },
        {
            "name": "payments-kv",
            "kind": "keyvault-secrets",
            "resource": VAULT_ID,
            "secrets": ["stripe-key"],
            "roles": ["reader"],
        },
        {
            "name": "partner-key",
            "kind": "keyvault-reference",
            "resource": RBAC_SCOPES["partner-key"],
            "setting": "PARTNER_API_KEY",
            "roles": ["reader"],
        },
        {
            "name": "orders-bus",
            "kind": "servicebus",
            "resource": RBAC_SCOPES["orders-bus"],
            "roles": ["sender", "receiver"],
        },
    ]
    return [dict(entry, allowed_sources=apps) for entry in entries]
