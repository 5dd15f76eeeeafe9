"""Small builders of core values, so each test states only what it is about."""

from __future__ import annotations

from provisioning.catalog import catalog_from_document
from provisioning.models import Administrator, Catalog, DatabaseState, Grant, PrincipalState, ServerInfo, SiteState
from provisioning.resource_ids import AppRef, parse_resource_id

SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-apps"
SERVER_ID = f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-orders"
APP = AppRef(SUB, RG, "shop-web")
OBJECT_ID = "0b1d0000-0000-4000-8000-000000000001"


def catalog(**overrides: object) -> Catalog:
    target: dict[str, object] = {
        "name": "orders",
        "engine": "postgres",
        "server": SERVER_ID,
        "database": "orders",
        "roles": ["reader", "writer"],
        "allowed_sources": [f"/subscriptions/{SUB}/resourceGroups/{RG}"],
        "tls": "disable",
    }
    target.update(overrides)
    return catalog_from_document({"targets": [target]})


def site(
    *,
    tags: dict[str, str] | None = None,
    principal: str | None = OBJECT_ID,
    settings: dict[str, str] | None = None,
    app: AppRef = APP,
) -> SiteState:
    return SiteState(
        app=app,
        tags=tags if tags is not None else {"passwordless": "orders:writer"},
        linux_fx_version="PYTHON|3.11",
        system_principal_id=principal,
        user_assigned={},
        app_settings=settings if settings is not None else {},
    )


def empty_database() -> DatabaseState:
    return DatabaseState(principal=None, grants=frozenset(), objects={}, default_owner="orders_owner")


# The ``orders`` PostgreSQL database of ``catalog()``: its server, objects, and what each profile holds there.
SERVER = ServerInfo(parse_resource_id(SERVER_ID), "127.0.0.1", (Administrator("f", "passwordless-func"),))
TABLES = {"table": (("public", "orders"),), "sequence": (("public", "orders_id_seq"),)}
READER = frozenset(
    {
        Grant("database", ("orders",), "CONNECT"),
        Grant("schema", ("public",), "USAGE"),
        Grant("table", ("public", "orders"), "SELECT"),
        Grant("sequence", ("public", "orders_id_seq"), "SELECT"),
        Grant("default_table", ("orders_owner", "public"), "SELECT"),
        Grant("default_sequence", ("orders_owner", "public"), "SELECT"),
    }
)
WRITER = (
    READER
    | {Grant("table", ("public", "orders"), p) for p in ("INSERT", "UPDATE", "DELETE")}
    | {Grant("default_table", ("orders_owner", "public"), p) for p in ("INSERT", "UPDATE", "DELETE")}
    | {
        Grant("sequence", ("public", "orders_id_seq"), "USAGE"),
        Grant("default_sequence", ("orders_owner", "public"), "USAGE"),
    }
)


def bound(object_id: str = OBJECT_ID, grants: frozenset[Grant] = frozenset()) -> DatabaseState:
    """``shop-web``'s principal on ``orders``, bound to ``object_id``, holding ``grants``."""
    return DatabaseState(PrincipalState("shop-web", object_id), grants, TABLES, "orders_owner")
