"""Who holds an identity, asked the way the product asks (its Resource Graph query and adapter), answered
by the emulator as Resource Graph would: by system identity object id, by a user-assigned identity's
object or client id, and — for client ids, which no site resource carries — through the namesakes."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest

from emulator import Emulator
from provisioning.azure.identities import Identities
from provisioning.azure.identity_holders import IdentityHolders, holders_query
from provisioning.config import Config
from provisioning.models import BindingKind, IdentityHolder
from provisioning.resource_ids import AppRef, parse_app_id
from tests.emulator.emulator_estate import SHARED_ID, SUBSCRIPTION


@pytest.fixture
def holders(emu: Emulator, credential: ManagedIdentityCredential) -> IdentityHolders:
    config = Config(catalog="unused", arm_endpoint=emu.arm_endpoint)
    return IdentityHolders(credential, config, Identities(credential, config))


def with_system_identity(emu: Emulator, group: str, name: str) -> tuple[AppRef, str, str]:
    app = parse_app_id(emu.create_site(SUBSCRIPTION, group, name))
    emu.recreate_system_identity(app.id)
    identity = emu.identity_of(app.id)
    assert identity is not None
    return app, identity[0], identity[1]


def test_a_system_identity_is_found_by_object_id_and_a_gone_one_is_not(emu: Emulator, holders: IdentityHolders) -> None:
    first, object_id, _ = with_system_identity(emu, "rg-apps", "twin")
    other = AppRef(SUBSCRIPTION, "rg-team-b", "twin")
    assert holders.list_holders(object_id, kind=BindingKind.OBJECT_ID, app=other) == (IdentityHolder(first.id),)
    emu.delete_site(first.id)
    assert holders.list_holders(object_id, kind=BindingKind.OBJECT_ID, app=other) == ()


def test_a_system_identity_is_found_by_client_id_through_its_namesakes_only(
    emu: Emulator, holders: IdentityHolders
) -> None:
    first, _, client_id = with_system_identity(emu, "rg-apps", "twin")
    with_system_identity(emu, "rg-apps", "unrelated")
    twin = AppRef(SUBSCRIPTION, "rg-team-b", "twin")
    assert holders.list_holders(client_id, kind=BindingKind.CLIENT_ID, app=twin) == (IdentityHolder(first.id),)
    stranger = AppRef(SUBSCRIPTION, "rg-team-b", "stranger")
    assert holders.list_holders(client_id, kind=BindingKind.CLIENT_ID, app=stranger) == ()


@pytest.mark.parametrize("kind", list(BindingKind))
def test_a_user_assigned_identity_is_found_with_its_owner_tag(
    emu: Emulator, holders: IdentityHolders, msi: Any, kind: BindingKind
) -> None:
    identity = msi.user_assigned_identities.get("rg-apps", SHARED_ID.rsplit("/", 1)[1])
    binding = identity.principal_id if kind is BindingKind.OBJECT_ID else identity.client_id
    found = {
        h.resource_id.lower(): h
        for h in holders.list_holders(str(binding), kind=kind, app=AppRef(SUBSCRIPTION, "rg-x", "x"))
    }
    assert found[SHARED_ID.lower()].owner is None
    wearers = {k for k in found if k != SHARED_ID.lower()}  # sites and slots that wear it hold it too
    assert all("/providers/microsoft.web/sites/" in k and found[k].owner is None for k in wearers)


def test_only_the_products_query_shape_is_evaluated(emu: Emulator, graph: ResourceGraphClient) -> None:
    query = holders_query("0b1d0000-0000-4000-8000-000000000001", kind=BindingKind.OBJECT_ID, app=AppRef("s", "g", "n"))
    assert graph.resources(QueryRequest(query=query)).count == 0
    with pytest.raises(HttpResponseError, match="InvalidQuery"):
        graph.resources(QueryRequest(query=query.replace("=~", "has")))


def test_the_query_takes_only_a_guid() -> None:
    with pytest.raises(ValueError):
        holders_query("x' or 1==1 or name =~ 'y", kind=BindingKind.OBJECT_ID, app=AppRef("s", "g", "n"))
