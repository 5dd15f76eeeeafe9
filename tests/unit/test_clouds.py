"""Sovereign clouds: the configured cloud decides ARM's endpoint and every token scope."""

from __future__ import annotations

import pytest

from provisioning.clouds import CLOUDS, Cloud, TokenAudience
from provisioning.config import Config
from provisioning.engines.dialects import dialect_for
from provisioning.errors import InvalidRequest
from provisioning.models import Engine

BASE = {
    "PASSWORDLESS_CATALOG": "catalog.yaml",
    "PASSWORDLESS_FUNCTION_OBJECT_ID": "2b7e9c1a-4f3d-4e8b-9a6c-5d1f0e2a3b4c",
}


def scope(config: Config, engine: Engine) -> str:
    """The scope the runtime asks a database token for: the engine's audience in the configured cloud."""
    return config.cloud.token_scope(dialect_for(engine).token_audience)


def test_us_government_config_gives_its_endpoint_and_scopes() -> None:
    config = Config.from_environment(BASE | {"PASSWORDLESS_CLOUD": "AzureUSGovernment"})
    assert config.arm_endpoint == "https://management.usgovcloudapi.net"
    assert config.arm_scope == "https://management.usgovcloudapi.net/.default"
    assert scope(config, Engine.SQL) == "https://database.usgovcloudapi.net/.default"
    assert scope(config, Engine.POSTGRES) == "https://ossrdbms-aad.database.usgovcloudapi.net/.default"
    assert scope(config, Engine.MYSQL) == "https://ossrdbms-aad.database.usgovcloudapi.net/.default"
    assert config.cloud.postgres_suffix == ".postgres.database.usgovcloudapi.net"


def test_china_config_gives_its_endpoint_and_scopes() -> None:
    config = Config.from_environment(BASE | {"PASSWORDLESS_CLOUD": "azurechinacloud"})
    assert config.arm_scope == "https://management.chinacloudapi.cn/.default"
    assert scope(config, Engine.SQL) == "https://database.chinacloudapi.cn/.default"
    assert scope(config, Engine.POSTGRES) == "https://ossrdbms-aad.database.chinacloudapi.cn/.default"


def test_public_is_the_default_and_explicit_endpoints_win() -> None:
    config = Config.from_environment(BASE | {"PASSWORDLESS_ARM_ENDPOINT": "https://127.0.0.1:8443/"})
    assert config.cloud.name == "AzureCloud" and config.arm_endpoint == "https://127.0.0.1:8443"
    assert config.arm_scope == "https://management.azure.com/.default"
    assert scope(config, Engine.SQL) == "https://database.windows.net/.default"


def test_an_unknown_cloud_is_refused_by_name() -> None:
    with pytest.raises(InvalidRequest, match=r"PASSWORDLESS_CLOUD.*AzureGermanCloud"):
        Config.from_environment(BASE | {"PASSWORDLESS_CLOUD": "AzureGermanCloud"})


@pytest.mark.parametrize("cloud", list(CLOUDS.values()), ids=lambda c: c.name)
def test_every_scope_of_a_cloud_stays_in_that_cloud(cloud: Cloud) -> None:
    scopes = [cloud.arm_scope] + [cloud.token_scope(audience) for audience in TokenAudience]
    domains = {
        "AzureCloud": (".azure.com", ".windows.net"),
        "AzureUSGovernment": (".usgovcloudapi.net",),
        "AzureChinaCloud": (".chinacloudapi.cn",),
    }[cloud.name]
    assert all(any(s.removesuffix("/.default").endswith(d) for d in domains) for s in scopes)
