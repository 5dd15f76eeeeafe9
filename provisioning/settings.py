"""App-setting names and values each framework reads, compatible with Service Connector. Pure.

The values per engine come from its dialect (``engines/*_dialect.py``); this module names them."""

from __future__ import annotations

from provisioning.engines.dialects import dialect_for
from provisioning.models import ClientType, Connection
from provisioning.requests import REQUEST_SETTING

MANAGED_KEYS_SETTING = "PASSWORDLESS_MANAGED_KEYS"
# Which target owns each engine's plain (un-infixed) setting names, remembered on the app so that
# reordering a tag never re-points the app's main connection: ``mysql=orders-mysql,postgres=orders``.
PLAIN_NAMES_SETTING = "PASSWORDLESS_PLAIN_NAMES"

__all__ = [
    "REQUEST_SETTING",
    "Connection",
    "format_managed_keys",
    "format_plain_owners",
    "infer_client",
    "parse_managed_keys",
    "parse_plain_owners",
    "setting_infix",
    "settings_for",
]


def settings_for(connection: Connection) -> dict[str, str]:
    """The settings of one connection: the engine's plain names for the connection that owns them,
    names carrying the target (``AZURE_POSTGRESQL_<TARGET>_...``) for the others."""
    dialect = dialect_for(connection.engine)
    infix = "" if connection.owns_plain_names else setting_infix(connection.target)

    def key(suffix: str) -> str:
        return f"{dialect.setting_prefix}{infix}_{suffix}"

    client = ClientType.PYTHON if connection.client is ClientType.GO else connection.client
    port = str(connection.port or dialect.default_port)
    settings = {key(suffix): value for suffix, value in dialect.setting_values(connection, client, port).items()}
    if connection.user_assigned_client_id:
        settings[key(dialect.client_id_setting(connection.client))] = connection.user_assigned_client_id
    return settings


def setting_infix(target: str) -> str:
    """What a target's name adds to its setting names; the catalog refuses two targets that share one."""
    return "_" + target.upper().replace("-", "_")


def parse_plain_owners(value: str | None) -> dict[str, str]:
    """``engine=target`` pairs; an entry that is not one is ignored (it names no owner)."""
    owners: dict[str, str] = {}
    for item in (value or "").split(","):
        engine, separator, target = item.strip().partition("=")
        if separator and engine and target:
            owners[engine] = target
    return owners


def format_plain_owners(owners: dict[str, str]) -> str:
    return ",".join(f"{engine}={target}" for engine, target in sorted(owners.items()))


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
