"""A site PATCH answered 202 with an empty body (a Container-Apps-hosted app, as recorded in
site_patch_async.json) converges through the product's adapter: the Location is followed, then the site read."""

from __future__ import annotations

from emulator import Emulator
from provisioning.azure.webapps import WebApps
from provisioning.config import Config
from provisioning.resource_ids import parse_app_id
from tests.emulator.emulator_estate import SUBSCRIPTION


def test_an_accepted_identity_patch_converges(emu: Emulator, credential: object) -> None:
    app = parse_app_id(
        emu.create_site(SUBSCRIPTION, "rg-apps", "aca-func", kind="functionapp,linux,container,azurecontainerapps")
    )
    apps = WebApps(credential, Config(catalog="unused", arm_endpoint=emu.arm_endpoint), poll_interval_s=0.01)  # type: ignore[arg-type]
    site = apps.read_site(app)
    emu.clear_requests()
    updated = apps.update_identities(site, system=True, user_assigned=())
    assert updated.system_principal_id is not None
    assert updated.system_principal_id == (emu.identity_of(app.id) or ("",))[0]
    served = [(r.method, r.status) for r in emu.requests if r.kind != "token"]
    assert served[0] == ("PATCH", 202) and ("GET", 202) in served and served[-1] == ("GET", 200)
