"""The estate the emulator tests run against, the ids they refer to, and how clients reach it."""

from __future__ import annotations

from typing import Any

from emulator import Emulator

TENANT = "11111111-1111-1111-1111-111111111111"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
OTHER_SUBSCRIPTION = "00000000-0000-0000-0000-000000000002"
FUNCTION_OBJECT_ID = "2b7e9c1a-4f3d-4e8b-9a6c-5d1f0e2a3b4c"
FUNCTION_CLIENT_ID = "8c4d2e6f-1a3b-4c5d-8e7f-9a0b1c2d3e4f"
ARM_SCOPE = "https://management.azure.com/.default"

APPS = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-apps"
SHOP_WEB = f"{APPS}/providers/Microsoft.Web/sites/shop-web"
STAGING = f"{SHOP_WEB}/slots/staging"
BILLING_API = f"{APPS}/providers/Microsoft.Web/sites/billing-api"
ORDERS_API = f"{APPS}/providers/Microsoft.Web/sites/orders-api"
SHARED_ID = f"{APPS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/shared-id"
OTHER_ID = f"{APPS}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/other-id"
DATA = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data"
PG_ORDERS = f"{DATA}/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-orders"

ESTATE: dict[str, Any] = {
    "tenant_id": TENANT,
    "function_identity": {
        "name": "passwordless-func",
        "object_id": FUNCTION_OBJECT_ID,
        "client_id": FUNCTION_CLIENT_ID,
    },
    "subscriptions": [
        {
            "id": SUBSCRIPTION,
            "resource_groups": [
                {
                    "name": "rg-apps",
                    "location": "westeurope",
                    "user_assigned_identities": [{"name": "shared-id"}, {"name": "other-id"}],
                    "sites": [
                        {
                            "name": "shop-web",
                            "tags": {"passwordless": "orders:writer"},
                            "identity": "none",
                            "app_settings": {"EXISTING": "keep-me"},
                            "slots": [{"name": "staging", "tags": {"passwordless": "orders:reader"}}],
                        },
                        {
                            "name": "billing-api",
                            "identity": "system",
                            "user_assigned_identities": ["shared-id"],
                            "linux_fx_version": "PYTHON|3.12",
                        },
                        {"name": "orders-api", "identity": "none", "user_assigned_identities": ["shared-id"]},
                        {"name": "legacy-portal", "linux_fx_version": "NODE|20-lts"},
                    ],
                },
                {
                    "name": "rg-data",
                    "location": "westeurope",
                    "postgres_servers": [
                        {
                            "name": "pg-orders",
                            "fqdn": "127.0.0.1",
                            "port": 5432,
                            "administrators": [
                                {"object_id": FUNCTION_OBJECT_ID, "principal_name": "passwordless-func"}
                            ],
                            "databases": ["orders", "catalog"],
                        }
                    ],
                },
            ],
        },
        {
            "id": OTHER_SUBSCRIPTION,
            "resource_groups": [{"name": "rg-other", "sites": [{"name": "elsewhere", "tags": {"Passwordless": "x"}}]}],
        },
    ],
}


def arm_options(emu: Emulator) -> dict[str, Any]:
    """Client options pointing an ARM SDK client at the emulator."""
    return {"base_url": emu.arm_endpoint, "credential_scopes": [ARM_SCOPE]}
