"""The local world benchmarks run in: the emulator, the real PostgreSQL behind it, Azurite, and the
product's settings pointing at them. Everything is created fresh and removed afterwards."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator import Emulator
from emulator.azurite import running_azurite
from emulator.postgres_local import owner_connection, prepare_postgres, reset_postgres

ROOT = Path(__file__).resolve().parents[1]
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
FUNCTION_OBJECT_ID = "5f0c1a7e-0000-4000-8000-00000000f001"


@dataclass
class World:
    emulator: Emulator
    estate: dict[str, Any]
    catalog: dict[str, Any]
    run_id: str

    def server_id(self, index: int) -> str:
        return (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data/providers/Microsoft.DBforPostgreSQL"
            f"/flexibleServers/pg-{self.run_id}-{index:02d}"
        )


def estate(run_id: str, servers: int) -> dict[str, Any]:
    admin = f"bench-func-{run_id}"
    return {
        "tenant_id": "11111111-1111-1111-1111-111111111111",
        "function_identity": {
            "name": admin,
            "object_id": FUNCTION_OBJECT_ID,
            "client_id": "5f0c1a7e-0000-4000-8000-00000000c001",
        },
        "subscriptions": [
            {
                "id": SUBSCRIPTION,
                "resource_groups": [
                    {"name": "rg-apps", "location": "westeurope", "sites": []},
                    {
                        "name": "rg-data",
                        "location": "westeurope",
                        "postgres_servers": [
                            {
                                "name": f"pg-{run_id}-{i:02d}",
                                "fqdn": "127.0.0.1",
                                "port": 5432,
                                "administrators": [
                                    {
                                        "object_id": FUNCTION_OBJECT_ID,
                                        "principal_name": admin,
                                        "principal_type": "ServicePrincipal",
                                    }
                                ],
                                "databases": [f"bench_{run_id}_{i:02d}"],
                            }
                            for i in range(servers)
                        ],
                    },
                ],
            }
        ],
    }


def catalog(world_estate: dict[str, Any], run_id: str) -> dict[str, Any]:
    servers = world_estate["subscriptions"][0]["resource_groups"][1]["postgres_servers"]
    return {
        "targets": [
            {
                "name": f"db{i:02d}",
                "engine": "postgres",
                "server": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data/providers/Microsoft.DBforPostgreSQL"
                f"/flexibleServers/{server['name']}",
                "database": server["databases"][0],
                "roles": ["reader", "writer"],
                "allowed_sources": [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-apps"],
                "tls": "disable",
            }
            for i, server in enumerate(servers)
        ]
    }


@contextmanager
def world(*, servers: int = 1, latency_s: float = 0.0, throttle: bool = True) -> Iterator[World]:
    """Fresh databases and an emulator, and the product's settings in this process's environment."""
    run_id = uuid.uuid4().hex[:6]
    seeded = estate(run_id, servers)
    reset_postgres(seeded)
    prepare_postgres(seeded)
    for server in seeded["subscriptions"][0]["resource_groups"][1]["postgres_servers"]:
        with owner_connection(server, server["databases"][0]) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL)")
    state = Path(tempfile.mkdtemp(prefix="bench-"))
    documents = catalog(seeded, run_id)
    (state / "catalog.json").write_text(json.dumps(documents), encoding="utf-8")
    saved = dict(os.environ)
    with running_azurite():
        emulator = Emulator.start(seeded, state_dir=state / "emulator", latency_s=latency_s, throttle=throttle)
        os.environ.update(emulator.environment())
        os.environ.update(
            {
                "PASSWORDLESS_CATALOG": str(state / "catalog.json"),
                "PASSWORDLESS_FUNCTION_OBJECT_ID": FUNCTION_OBJECT_ID,
                "PASSWORDLESS_SUBSCRIPTIONS": SUBSCRIPTION,
                "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            }
        )
        try:
            yield World(emulator, seeded, documents, run_id)
        finally:
            emulator.stop()
            os.environ.clear()
            os.environ.update(saved)
            reset_postgres(seeded)


def arm_calls(emulator: Emulator) -> list[Any]:
    """Requests to ARM itself: no token requests, no outcome events, no throttled attempts."""
    return [r for r in emulator.requests if r.kind != "token" and not r.path.startswith("/topics/") and r.status != 429]


def is_write(request: Any) -> bool:
    """PUT, PATCH, DELETE, or a POST that changes state (a POST ``list`` action reads)."""
    if request.method in ("PUT", "PATCH", "DELETE"):
        return True
    return request.method == "POST" and not request.path.lower().endswith("/list")
