"""What the planner asks of a database engine, with no I/O: one ``Dialect`` per engine.

The planner, the policy, the catalog and the settings never branch on an engine; they ask its dialect.
The I/O half of each engine (its session: connections, catalog reads, rendered SQL) lives beside it
in ``engines/<engine>.py`` and is imported only by the reconciler's composition.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from typing import ClassVar

from provisioning.clouds import TokenAudience
from provisioning.models import (
    BindingKind,
    ClientType,
    Connection,
    DatabaseState,
    Engine,
    Grant,
    Privilege,
    RoleProfile,
    Target,
    TlsMode,
)


class PrincipalScope(str, Enum):
    """Where an engine keeps a principal, so where one app's principal is created and retired once."""

    SERVER = "server"  # PostgreSQL roles, MySQL users: one per server, shared by its databases
    DATABASE = "database"  # Azure SQL contained users: one per database


class Dialect(ABC):
    """Facts and pure decisions of one engine. Subclasses fill the class attributes."""

    engine: ClassVar[Engine]
    label: ClassVar[str]  # how people name the engine in messages
    server_type: ClassVar[str]  # ARM type of its servers, lower case
    principal_scope: ClassVar[PrincipalScope]
    binding_kind: ClassVar[BindingKind]  # the id of the identity the engine shows as the binding
    default_schemas: ClassVar[tuple[str, ...]]  # empty: the engine has no schemas inside a database
    catalog_options: ClassVar[frozenset[str]] = frozenset()  # catalog target fields only this engine takes
    retires_by_reassigning: ClassVar[bool] = False  # ownership passes to a successor before the drop
    setting_prefix: ClassVar[str]
    default_port: ClassVar[int]
    token_audience: ClassVar[TokenAudience]  # the resource its access tokens are for (scope per cloud)
    admin_command: ClassVar[str]  # the az command an owner runs to make an Entra administrator
    admin_command_extra: ClassVar[str] = ""  # appended; may name {resource_group} and {server}
    several_admins: ClassVar[bool] = False  # False: one administrator, which is never replaced

    def principal_home(self, target: Target) -> str:
        """The key of the place a principal lives: every target sharing it shares one principal."""
        if self.principal_scope is PrincipalScope.DATABASE:
            return f"{target.server.key}/{target.database.lower()}"
        return target.server.key

    @abstractmethod
    def name_fits(self, name: str) -> bool:
        """Does a principal name fit within the engine's limit?"""

    @abstractmethod
    def expected_grants(self, target: Target, profile: RoleProfile, state: DatabaseState) -> frozenset[Grant]:
        """Every grant the principal should hold inside the target's managed scope, and nothing else."""

    @abstractmethod
    def setting_values(self, connection: Connection, client: ClientType, port: str) -> dict[str, str]:
        """Setting suffixes and values the client's framework reads for one connection."""

    def client_id_setting(self, client: ClientType) -> str:
        """The setting suffix that carries a user-assigned identity's client id."""
        return "CLIENTID"


DML = (Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE, Privilege.DELETE)


def generic_settings(c: Connection, port: str) -> dict[str, str]:
    """Client type ``none`` on PostgreSQL and MySQL: the generic pieces, no driver's connection string
    (sources on ``models.ClientType``)."""
    return {
        "HOST": c.fqdn,
        "PORT": port,
        "DATABASE": c.database,
        "USER": c.principal,
        "SSL": str(c.tls is TlsMode.REQUIRE).lower(),
    }
