"""The Azure cloud the function runs in: its ARM endpoint, token scopes and database DNS suffixes. Pure.

Source: the Azure CLI's built-in cloud list (Azure/azure-cli, `src/azure-cli-core/azure/cli/core/cloud.py`,
`AZURE_PUBLIC_CLOUD`, `AZURE_US_GOV_CLOUD`, `AZURE_CHINA_CLOUD`: `resource_manager`,
`ossrdbms_resource_id`, `sql_server_hostname`, `mysql_server_endpoint`, `postgresql_server_endpoint`);
the names are those of `az cloud list` and of Bicep's `environment().name`. Azure SQL's token audience
is `https://` + `sql_server_hostname` without its dot (Microsoft Learn, "Azure Government developer guide":
Azure SQL Database `https://database.usgovcloudapi.net/`); PostgreSQL and MySQL flexible servers take
tokens for the cloud's `ossrdbms_resource_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from provisioning.errors import InvalidRequest


class TokenAudience(str, Enum):
    """Which resource a database's access token is for; each engine's dialect names its own."""

    AZURE_SQL = "azure-sql"
    OSSRDBMS = "ossrdbms"  # Azure Database for PostgreSQL and MySQL


@dataclass(frozen=True)
class Cloud:
    name: str
    resource_manager: str
    ossrdbms_resource: str
    sql_suffix: str  # the server FQDN's suffix, leading dot included
    postgres_suffix: str
    mysql_suffix: str

    @property
    def arm_scope(self) -> str:
        return f"{self.resource_manager}/.default"

    def token_scope(self, audience: TokenAudience) -> str:
        """The scope of the access token a database accepts in this cloud."""
        if audience is TokenAudience.AZURE_SQL:
            return f"https://{self.sql_suffix.lstrip('.')}/.default"
        return f"{self.ossrdbms_resource}/.default"


CLOUDS = {
    cloud.name.lower(): cloud
    for cloud in (
        Cloud(
            "AzureCloud",
            resource_manager="https://management.azure.com",
            ossrdbms_resource="https://ossrdbms-aad.database.windows.net",
            sql_suffix=".database.windows.net",
            postgres_suffix=".postgres.database.azure.com",
            mysql_suffix=".mysql.database.azure.com",
        ),
        Cloud(
            "AzureUSGovernment",
            resource_manager="https://management.usgovcloudapi.net",
            ossrdbms_resource="https://ossrdbms-aad.database.usgovcloudapi.net",
            sql_suffix=".database.usgovcloudapi.net",
            postgres_suffix=".postgres.database.usgovcloudapi.net",
            mysql_suffix=".mysql.database.usgovcloudapi.net",
        ),
        Cloud(
            "AzureChinaCloud",
            resource_manager="https://management.chinacloudapi.cn",
            ossrdbms_resource="https://ossrdbms-aad.database.chinacloudapi.cn",
            sql_suffix=".database.chinacloudapi.cn",
            postgres_suffix=".postgres.database.chinacloudapi.cn",
            mysql_suffix=".mysql.database.chinacloudapi.cn",
        ),
    )
}
PUBLIC = CLOUDS["azurecloud"]


def cloud_named(name: str) -> Cloud:
    """The cloud of setting ``PASSWORDLESS_CLOUD`` (any case); empty means public Azure."""
    if not name.strip():
        return PUBLIC
    found = CLOUDS.get(name.strip().lower())
    if found is None:
        known = ", ".join(c.name for c in CLOUDS.values())
        raise InvalidRequest(f"setting PASSWORDLESS_CLOUD: {name!r} is not one of {known}", field="PASSWORDLESS_CLOUD")
    return found
