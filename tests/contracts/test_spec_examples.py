"""The specs' own example answers (`x-ms-examples`) of the endpoint reads no recording covers —
Storage's `StorageAccounts_GetProperties` and Key Vault's `Vaults_Get`: each validates against its
operation's answer schema, and the product's adapter, served that answer, asks at the example's
api-version and reads from it the endpoint Azure documents. The copies are listed under `examples`
in `specs/sources.json`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from provisioning.azure.resource_endpoints import ResourceEndpoints
from provisioning.config import Config
from provisioning.models import ClientType
from provisioning.rbac_settings import RbacConnection, rbac_settings_for
from provisioning.rbac_targets import RbacTarget, rbac_target
from tests.contracts.replay import ReplayDispatcher, StaticToken, replay_server
from tests.contracts.swagger import SPECS, Operation, SpecLibrary, example_files, problems

LIBRARY = SpecLibrary()
COPIED = json.loads((SPECS / "sources.json").read_text(encoding="utf-8"))["examples"]
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups"


def example(file: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SPECS / file).read_text(encoding="utf-8"))
    return loaded


def examples_of_held_operations() -> dict[str, Operation]:
    """Each copied example, with the held operation whose `x-ms-examples` names it."""
    return {file: op for op in LIBRARY.operations for file in example_files(op) if file in COPIED}


def example_of(name: str) -> str:
    (file,) = [file for file, op in examples_of_held_operations().items() if op.name == name]
    return file


def test_every_copied_example_is_one_of_a_held_operation() -> None:
    named = examples_of_held_operations()
    assert set(named) == set(COPIED)
    assert {op.name for op in named.values()} == {
        "Microsoft.Storage/StorageAccounts_GetProperties",
        "Microsoft.KeyVault/Vaults_Get",
    }


@pytest.mark.parametrize("file", sorted(COPIED))
def test_the_example_answer_validates_against_its_schema(file: str) -> None:
    operation = examples_of_held_operations()[file]
    answers = {status: answer["body"] for status, answer in example(file)["responses"].items() if "body" in answer}
    assert answers
    for status, body in answers.items():
        schema = LIBRARY.response_schema(operation, int(status))
        assert schema is not None
        assert problems(schema, body) == [], f"{file} ({status})"


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[ReplayDispatcher]:
    with replay_server(tmp_path) as dispatcher:
        yield dispatcher


def target(kind: str, resource: str, **extra: Any) -> RbacTarget:
    entry = {"name": "t", "kind": kind, "resource": resource, "roles": ["reader"]}
    return rbac_target({**entry, "allowed_sources": [f"/subscriptions/{SUBSCRIPTION}"], **extra}, 0)


def read_endpoint(replay: ReplayDispatcher, file: str, rbac: RbacTarget) -> str:
    """The endpoint the product reads from the example answer, served where the target's resource is."""
    answer = example(file)
    replay.add(
        {
            "request": {"method": "GET", "path": rbac.account.id},
            "response": {"status": 200, "headers": {}, "body": answer["responses"]["200"]["body"]},
        }
    )
    endpoints = ResourceEndpoints(StaticToken(), Config(catalog="unused", arm_endpoint=replay.base_url))  # type: ignore[arg-type]
    endpoint = endpoints.get_endpoint(rbac)
    (received,) = replay.requests_to("GET")
    assert parse_qs(received.query)["api-version"] == [answer["parameters"]["api-version"]]
    return endpoint


ACCOUNT = f"{GROUP}/res9407/providers/Microsoft.Storage/storageAccounts/sto8596"


@pytest.mark.parametrize(
    ("kind", "resource", "endpoint"),
    [
        ("storage-blob", f"{ACCOUNT}/blobServices/default/containers/c", "https://sto8596.blob.core.windows.net/"),
        ("storage-queue", f"{ACCOUNT}/queueServices/default/queues/q", "https://sto8596.queue.core.windows.net/"),
    ],
)
def test_the_storage_endpoints_are_read_from_the_example_answer(
    replay: ReplayDispatcher, kind: str, resource: str, endpoint: str
) -> None:
    account = example_of("Microsoft.Storage/StorageAccounts_GetProperties")
    assert read_endpoint(replay, account, target(kind, resource)) == endpoint


def test_the_vault_uri_of_the_example_has_no_trailing_slash_and_the_reference_gets_one(
    replay: ReplayDispatcher,
) -> None:
    vault = f"{GROUP}/sample-resource-group/providers/Microsoft.KeyVault/vaults/sample-vault"
    reference = target("keyvault-reference", f"{vault}/secrets/partner", setting="PARTNER_KEY")
    uri = read_endpoint(replay, example_of("Microsoft.KeyVault/Vaults_Get"), reference)
    assert uri == "https://sample-vault.vault.azure.net"
    assert rbac_settings_for(RbacConnection(reference, uri, ClientType.PYTHON, True)) == {
        "PARTNER_KEY": "@Microsoft.KeyVault(SecretUri=https://sample-vault.vault.azure.net/secrets/partner)"
    }
