"""An emulator per test, and the real SDK clients pointed at it through the managed-identity endpoint."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.identity import ManagedIdentityCredential
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.web import WebSiteManagementClient

from emulator import Emulator
from tests.emulator.emulator_estate import ESTATE, SUBSCRIPTION, arm_options

_FOREIGN_CREDENTIAL_SETTINGS = (
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_USERNAME",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
)


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator.start(copy.deepcopy(ESTATE), state_dir=tmp_path / "emulator") as running:
        yield running


@pytest.fixture
def emulator_environment(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process environment of a function app pointed at the emulator, and nothing else."""
    for name in _FOREIGN_CREDENTIAL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in emu.environment().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def credential(emulator_environment: None) -> Iterator[ManagedIdentityCredential]:
    with ManagedIdentityCredential() as managed_identity:
        yield managed_identity


@pytest.fixture
def web(emu: Emulator, credential: ManagedIdentityCredential) -> Iterator[WebSiteManagementClient]:
    with WebSiteManagementClient(credential, SUBSCRIPTION, **arm_options(emu)) as client:
        yield client


@pytest.fixture
def msi(emu: Emulator, credential: ManagedIdentityCredential) -> Iterator[ManagedServiceIdentityClient]:
    with ManagedServiceIdentityClient(credential, SUBSCRIPTION, **arm_options(emu)) as client:
        yield client


@pytest.fixture
def postgres(emu: Emulator, credential: ManagedIdentityCredential) -> Iterator[PostgreSQLManagementClient]:
    with PostgreSQLManagementClient(credential, SUBSCRIPTION, **arm_options(emu)) as client:
        yield client


@pytest.fixture
def graph(emu: Emulator, credential: ManagedIdentityCredential) -> Iterator[ResourceGraphClient]:
    with ResourceGraphClient(credential, **arm_options(emu)) as client:
        yield client
