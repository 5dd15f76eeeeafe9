"""Microsoft.Authorization role assignments through the real AuthorizationManagementClient, the ABAC
condition on the function's own assignment, and the data planes that honour assignments."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

from emulator import Emulator
from provisioning.rbac_roles import BUILT_IN_ROLES, RBAC_ADMINISTRATOR, delegation_condition
from tests.emulator.emulator_estate import BILLING_API, DATA, ESTATE, FUNCTION_OBJECT_ID, SUBSCRIPTION, arm_options

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
BLOB_READER = BUILT_IN_ROLES["Storage Blob Data Reader"]
BLOB_CONTRIBUTOR = BUILT_IN_ROLES["Storage Blob Data Contributor"]
SECRETS_USER = BUILT_IN_ROLES["Key Vault Secrets User"]
SB_SENDER = BUILT_IN_ROLES["Azure Service Bus Data Sender"]
ACCOUNT = f"{DATA}/providers/Microsoft.Storage/storageAccounts/stshop"
CONTAINER = f"{ACCOUNT}/blobServices/default/containers/orders"
VAULT = f"{DATA}/providers/Microsoft.KeyVault/vaults/kv-pay"
SB_QUEUE = f"{DATA}/providers/Microsoft.ServiceBus/namespaces/sb-shop/queues/orders"


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    estate: dict[str, Any] = copy.deepcopy(ESTATE)
    data_group = estate["subscriptions"][0]["resource_groups"][1]
    data_group["storage_accounts"] = [{"name": "stshop", "containers": ["orders"], "queues": ["jobs"]}]
    data_group["key_vaults"] = [{"name": "kv-pay", "secrets": {"stripe-key": "sk-test-1", "other": "no"}}]
    data_group["servicebus_namespaces"] = [{"name": "sb-shop", "queues": ["orders"]}]
    estate["role_assignments"] = [
        {
            "scope": f"/subscriptions/{SUBSCRIPTION}",
            "role": RBAC_ADMINISTRATOR,
            "principal": "function",
            "condition": delegation_condition(frozenset({BLOB_READER, BLOB_CONTRIBUTOR, SECRETS_USER, SB_SENDER})),
        }
    ]
    with Emulator.start(estate, state_dir=tmp_path / "emulator") as running:
        yield running


@pytest.fixture
def authorization(emu: Emulator, credential: ManagedIdentityCredential) -> Iterator[Any]:
    with AuthorizationManagementClient(credential, SUBSCRIPTION, **arm_options(emu)) as client:
        yield client


def assign(client: Any, scope: str, name: str, role: str, principal: str, principal_type: str | None) -> Any:
    parameters = RoleAssignmentCreateParameters(
        role_definition_id=f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{role}",
        principal_id=principal,
        principal_type=principal_type,
    )
    return client.role_assignments.create(scope, name, parameters)


def app_token(emu: Emulator, site: str, audience: str) -> str:
    """A token for the app's own system identity, through the endpoint App Service gives that app."""
    environment = emu.app_identity_environment(site)
    answer = requests.get(
        environment["IDENTITY_ENDPOINT"],
        params={"api-version": "2019-08-01", "resource": audience},
        headers={"X-IDENTITY-HEADER": environment["IDENTITY_HEADER"]},
        verify=emu.ca_bundle,
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def test_an_assignment_is_created_listed_by_principal_and_not_made_twice(emu: Emulator, authorization: Any) -> None:
    principal = emu.identity_of(BILLING_API)[0]
    made = assign(
        authorization, CONTAINER, "6f0b7d1e-0000-4000-8000-000000000001", BLOB_READER, principal, "ServicePrincipal"
    )

    assert (made.scope, made.principal_type) == (CONTAINER, "ServicePrincipal")
    listed = list(authorization.role_assignments.list_for_subscription(filter=f"principalId eq '{principal}'"))
    assert [a.id for a in listed] == [made.id]
    with pytest.raises(HttpResponseError) as duplicate:
        assign(
            authorization, CONTAINER, "6f0b7d1e-0000-4000-8000-000000000002", BLOB_READER, principal, "ServicePrincipal"
        )
    assert (duplicate.value.status_code, duplicate.value.error.code) == (409, "RoleAssignmentExists")


def test_the_delegation_condition_refuses_owner_and_non_service_principals(emu: Emulator, authorization: Any) -> None:
    principal = emu.identity_of(BILLING_API)[0]
    before = emu.role_assignments()

    for role, principal_type in ((OWNER, "ServicePrincipal"), (BLOB_READER, "User")):
        with pytest.raises(HttpResponseError) as refused:
            assign(authorization, CONTAINER, "6f0b7d1e-0000-4000-8000-00000000000a", role, principal, principal_type)
        assert (refused.value.status_code, refused.value.error.code) == (403, "AuthorizationFailed")
        assert "ABAC condition that is not fulfilled" in refused.value.error.message
    someone_elses = emu.assign_role(CONTAINER, OWNER, principal)
    with pytest.raises(HttpResponseError) as not_deletable:
        authorization.role_assignments.delete(CONTAINER, someone_elses.rsplit("/", 1)[-1])
    assert not_deletable.value.status_code == 403
    assert len(emu.role_assignments()) == len(before) + 1  # only the hand-made one


def test_a_fresh_identity_needs_principal_type_until_it_has_replicated(emu: Emulator, authorization: Any) -> None:
    emu.recreate_system_identity(BILLING_API)  # minted just now
    principal = emu.identity_of(BILLING_API)[0]

    with pytest.raises(HttpResponseError) as missing:
        assign(authorization, CONTAINER, "6f0b7d1e-0000-4000-8000-000000000003", BLOB_READER, principal, None)
    assert (missing.value.status_code, missing.value.error.code) == (400, "PrincipalNotFound")
    assert "principalType" in missing.value.error.message
    assign(authorization, CONTAINER, "6f0b7d1e-0000-4000-8000-000000000003", BLOB_READER, principal, "ServicePrincipal")


def test_data_planes_allow_what_the_role_allows_and_nothing_else(emu: Emulator, authorization: Any) -> None:
    principal = emu.identity_of(BILLING_API)[0]
    emu.put_blob(ACCOUNT, "orders", "first.json", b'{"id": 1}')
    storage = {"Authorization": f"Bearer {app_token(emu, BILLING_API, 'https://storage.azure.com/')}"}
    blob = f"{emu.arm_endpoint}/blob/stshop/orders/first.json"

    assert requests.get(blob, headers=storage, verify=emu.ca_bundle, timeout=10).status_code == 403
    assign(authorization, CONTAINER, "6f0b7d1e-0000-4000-8000-000000000004", BLOB_READER, principal, "ServicePrincipal")
    read = requests.get(blob, headers=storage, verify=emu.ca_bundle, timeout=10)
    assert (read.status_code, read.content) == (200, b'{"id": 1}')
    write = requests.put(blob, data=b"overwrite", headers=storage, verify=emu.ca_bundle, timeout=10)
    assert (write.status_code, write.headers["x-ms-error-code"]) == (403, "AuthorizationPermissionMismatch")

    assign(
        authorization,
        f"{VAULT}/secrets/stripe-key",
        "6f0b7d1e-0000-4000-8000-000000000005",
        SECRETS_USER,
        principal,
        "ServicePrincipal",
    )
    vault = {"Authorization": f"Bearer {app_token(emu, BILLING_API, 'https://vault.azure.net')}"}
    secret = requests.get(
        f"{emu.arm_endpoint}/vault/kv-pay/secrets/stripe-key", headers=vault, verify=emu.ca_bundle, timeout=10
    )
    assert (secret.status_code, secret.json()["value"]) == (200, "sk-test-1")
    other = requests.get(
        f"{emu.arm_endpoint}/vault/kv-pay/secrets/other", headers=vault, verify=emu.ca_bundle, timeout=10
    )
    assert (other.status_code, other.json()["error"]["innererror"]["code"]) == (403, "ForbiddenByRbac")

    assign(authorization, SB_QUEUE, "6f0b7d1e-0000-4000-8000-000000000006", SB_SENDER, principal, "ServicePrincipal")
    bus = {"Authorization": f"Bearer {app_token(emu, BILLING_API, 'https://servicebus.azure.net')}"}
    queue = f"{emu.arm_endpoint}/servicebus/sb-shop/orders/messages"
    assert requests.post(queue, data=b"hello", headers=bus, verify=emu.ca_bundle, timeout=10).status_code == 201
    assert requests.delete(f"{queue}/head", headers=bus, verify=emu.ca_bundle, timeout=10).status_code == 401
    wrong_audience = requests.get(blob, headers=vault, verify=emu.ca_bundle, timeout=10)
    assert wrong_audience.status_code == 401
    assert FUNCTION_OBJECT_ID not in {a["properties"]["principalId"] for a in emu.role_assignments(CONTAINER)}
