"""A platform team's estate for the benchmarks: many subscriptions, PostgreSQL and MySQL servers.

Every subscription has its apps' resource group and a data resource group with its share of the
servers; every server has one database, and any app of any subscription may ask for any of them.
The PostgreSQL servers are databases of the local PostgreSQL, the MySQL ones databases of the local
MariaDB behind the shim proxy; the function's identity is an Entra admin of each. Everything is
created fresh and removed afterwards.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator import Emulator
from emulator.azurite import running_azurite
from emulator.mysql_local import prepare_mysql, reset_mysql
from emulator.mysql_proxy import MysqlShimProxy
from emulator.postgres_local import prepare_postgres, reset_postgres

FUNCTION_OBJECT_ID = "5f0c1a7e-0000-4000-8000-00000000f001"
APPS_GROUP = "rg-apps"
DATA_GROUP = "rg-data"


def subscription_id(index: int) -> str:
    return f"00000000-0000-0000-0000-{index + 1:012d}"


@dataclass
class EstateWorld:
    emulator: Emulator
    estate: dict[str, Any]
    catalog: dict[str, Any]
    admin: str
    subscriptions: list[str]

    def targets(self, engine: str | None = None) -> list[dict[str, Any]]:
        return [t for t in self.catalog["targets"] if engine is None or t["engine"] == engine]


def build(run_id: str, *, subscriptions: int, postgres: int, mysql: int, mysql_port: int) -> dict[str, Any]:
    """Servers go round the subscriptions: server k lives in subscription k mod ``subscriptions``."""
    admin = f"bench-func-{run_id}"
    groups: list[dict[str, Any]] = []
    for s in range(subscriptions):
        pg = [
            {
                "name": f"pg-{run_id}-{k:02d}",
                "fqdn": "127.0.0.1",
                "port": 5432,
                "administrators": [
                    {"object_id": FUNCTION_OBJECT_ID, "principal_name": admin, "principal_type": "ServicePrincipal"}
                ],
                "databases": [f"bench_{run_id}_pg{k:02d}"],
            }
            for k in range(postgres)
            if k % subscriptions == s
        ]
        my = [
            {
                "name": f"mysql-{run_id}-{k:02d}",
                "fqdn": "127.0.0.1",
                "port": mysql_port,
                "administrator": {"object_id": FUNCTION_OBJECT_ID, "login": admin},
                "databases": [f"bench_{run_id}_my{k:02d}"],
            }
            for k in range(mysql)
            if k % subscriptions == s
        ]
        groups.append(
            {
                "id": subscription_id(s),
                "resource_groups": [
                    {"name": APPS_GROUP, "location": "westeurope", "sites": []},
                    {"name": DATA_GROUP, "location": "westeurope", "postgres_servers": pg, "mysql_servers": my},
                ],
            }
        )
    return {
        "tenant_id": "11111111-1111-1111-1111-111111111111",
        "function_identity": {
            "name": admin,
            "object_id": FUNCTION_OBJECT_ID,
            "client_id": "5f0c1a7e-0000-4000-8000-00000000c001",
        },
        "subscriptions": groups,
    }


def catalog_of(estate: dict[str, Any]) -> dict[str, Any]:
    sources = [f"/subscriptions/{s['id']}/resourceGroups/{APPS_GROUP}" for s in estate["subscriptions"]]
    targets = []
    for subscription in estate["subscriptions"]:
        data = subscription["resource_groups"][1]
        for kind, engine, provider in (
            ("postgres_servers", "postgres", "Microsoft.DBforPostgreSQL"),
            ("mysql_servers", "mysql", "Microsoft.DBforMySQL"),
        ):
            for server in data[kind]:
                targets.append(
                    {
                        "name": server["name"].split("-", 1)[0] + "-" + server["name"].rsplit("-", 1)[1],
                        "engine": engine,
                        "server": f"/subscriptions/{subscription['id']}/resourceGroups/{DATA_GROUP}"
                        f"/providers/{provider}/flexibleServers/{server['name']}",
                        "database": server["databases"][0],
                        "roles": ["reader", "writer"],
                        "allowed_sources": sources,
                        "tls": "disable",
                    }
                )
    targets.sort(key=lambda t: t["name"])
    return {"targets": targets}


@contextmanager
def estate_world(
    *, subscriptions: int, postgres: int, mysql: int, latency_s: float = 0.0, throttle: bool = False
) -> Iterator[EstateWorld]:
    """Fresh databases, an emulator, Azurite, and the product's settings in this process's
    environment (which worker processes inherit)."""
    run_id = uuid.uuid4().hex[:6]
    saved = dict(os.environ)
    with ExitStack() as stack:
        proxy = stack.enter_context(MysqlShimProxy.start(upstream=("127.0.0.1", 3306)))
        estate = build(run_id, subscriptions=subscriptions, postgres=postgres, mysql=mysql, mysql_port=proxy.port)
        reset_postgres(estate)
        prepare_postgres(estate)
        stack.callback(reset_postgres, estate)
        prepare_mysql(estate)
        stack.callback(reset_mysql, estate)
        state = Path(tempfile.mkdtemp(prefix="bench-estate-"))
        catalog = catalog_of(estate)
        (state / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
        stack.enter_context(running_azurite())
        emulator = Emulator.start(estate, state_dir=state / "emulator", latency_s=latency_s, throttle=throttle)
        stack.callback(emulator.stop)
        os.environ.update(emulator.environment())
        os.environ.update(
            {
                "PASSWORDLESS_CATALOG": str(state / "catalog.json"),
                "PASSWORDLESS_FUNCTION_OBJECT_ID": FUNCTION_OBJECT_ID,
                "PASSWORDLESS_SUBSCRIPTIONS": ",".join(s["id"] for s in estate["subscriptions"]),
                "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            }
        )
        try:
            yield EstateWorld(
                emulator, estate, catalog, estate["function_identity"]["name"],
                [s["id"] for s in estate["subscriptions"]],
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)
