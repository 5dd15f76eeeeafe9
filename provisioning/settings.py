"""App-setting names and values each framework reads, compatible with Service Connector. Pure.

The values per engine come from its dialect (``engines/*_dialect.py``); this module names them."""

from __future__ import annotations

from provisioning.engines.dialects import dialect_for
from provisioning.models import ClientType, Connection
from provisioning.requests import REQUEST_SETTING

MANAGED_KEYS_SETTING = "PASSWORDLESS_MANAGED_KEYS"

__all__ = ["REQUEST_SETTING", "Connection", "format_managed_keys", "infer_client", "parse_managed_keys", "settings_for"]


def settings_for(connection: Connection) -> dict[str, str]:
    """The settings of one connection. Later connections of an engine carry the target name."""
    dialect = dialect_for(connection.engine)
    infix = "" if connection.first_of_engine else "_" + connection.target.upper().replace("-", "_")

    def key(suffix: str) -> str:
        return f"{dialect.setting_prefix}{infix}_{suffix}"

    client = ClientType.PYTHON if connection.client is ClientType.GO else connection.client
    port = str(connection.port or dialect.default_port)
    settings = {key(suffix): value for suffix, value in dialect.setting_values(connection, client, port).items()}
    if connection.user_assigned_client_id:
        settings[key(dialect.client_id_setting(connection.client))] = connection.user_assigned_client_id
    return settings


def parse_managed_keys(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    return frozenset(key.strip() for key in value.split(",") if key.strip())


def format_managed_keys(keys: frozenset[str]) -> str:
    return ",".join(sorted(keys))


def infer_client(linux_fx_version: str) -> ClientType:
    """The framework from the site's stack (``PYTHON|3.11``, ``NODE|20-lts``, ``DOTNETCORE|8.0``...)."""
    stack = linux_fx_version.split("|", 1)[0].strip().upper()
    return {
        "NODE": ClientType.NODEJS,
        "DOTNETCORE": ClientType.DOTNET,
        "DOTNET": ClientType.DOTNET,
        "JAVA": ClientType.JAVA,
        "TOMCAT": ClientType.JAVA,
        "JBOSSEAP": ClientType.JAVA,
        "GO": ClientType.GO,
    }.get(stack, ClientType.PYTHON)
