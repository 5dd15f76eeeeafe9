"""The PostgreSQL slice end to end: real SDK clients -> emulator, real PostgreSQL underneath."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg2
import pytest
from psycopg2 import errors

from provisioning.audit import DriftKind, audit
from provisioning.models import Engine
from provisioning.plan import CreatePrincipal, EnableSystemIdentity, GrantPrivileges, RebindPrincipal, SetAppSettings
from provisioning.principal_names import principal_name
from provisioning.reconciler import Mode
from provisioning.resource_ids import parse_app_id
from tests.estates import APPS_GROUP, STORAGE, SUBSCRIPTION

pytestmark = pytest.mark.integration
WRITES = {"PUT", "PATCH", "DELETE"}


def new_app(emulator: Any, tag: str, *, name: str | None = None, settings: dict[str, str] | None = None) -> Any:
    site_id = emulator.create_site(
        SUBSCRIPTION,
        APPS_GROUP,
        name or f"app-{uuid.uuid4().hex[:10]}",
        tags={"passwordless": tag},
        app_settings=settings or {},
    )
    return parse_app_id(site_id)


def arm_writes(emulator: Any) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in emulator.requests
        if r.method in WRITES or (r.method == "POST" and not r.path.lower().endswith("/list"))
    ]


def arm_calls(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.kind != "token" and not r.path.startswith("/topics/")]


def test_first_apply_converges_and_keeps_foreign_settings(emulator: Any, runtime: Any) -> None:
    app = new_app(emulator, "orders:writer", settings={"EXISTING": "keep-me", "FEATURE_FLAG": "on"})
    result = runtime.reconciler.reconcile_app(app)
    assert result.applied
    kinds = [type(step) for step in result.plan.steps]
    assert kinds == [EnableSystemIdentity, CreatePrincipal, GrantPrivileges, SetAppSettings]
    create = result.plan.steps[1]
    assert create.binding == emulator.identity_of(app.id)[0].lower()
    assert "pgaadauth_create_principal_with_oid" in create.sql[0]

    settings = emulator.app_settings(app.id)
    assert settings["EXISTING"] == "keep-me" and settings["FEATURE_FLAG"] == "on"
    name = principal_name(app, Engine.POSTGRES)
    assert settings["AZURE_POSTGRESQL_CONNECTIONSTRING"].endswith(f"sslmode=disable user={name}")
    managed = "AZURE_POSTGRESQL_CONNECTIONSTRING,PASSWORDLESS_MANAGED_TARGETS,PASSWORDLESS_PLAIN_NAMES"
    assert settings["PASSWORDLESS_MANAGED_KEYS"] == managed
    assert settings["PASSWORDLESS_PLAIN_NAMES"] == "postgres=orders"
    assert settings["PASSWORDLESS_MANAGED_TARGETS"] == "orders"
    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty


def test_noop_reconcile_makes_no_arm_or_database_writes(emulator: Any, runtime: Any) -> None:
    app = new_app(emulator, "orders:reader")
    runtime.reconciler.reconcile_app(app)
    emulator.clear_requests()
    again = runtime.reconciler.reconcile_app(app)
    assert not again.applied and again.plan.empty
    assert again.database_writes == 0
    assert arm_writes(emulator) == []
    assert len(arm_calls(emulator)) <= 3, [f"{r.method} {r.path}" for r in arm_calls(emulator)]
    assert all(count <= 2 for count in again.database_catalog_queries.values()), again.database_catalog_queries


def test_first_provisioning_costs_at_most_eight_arm_requests(emulator: Any, runtime: Any) -> None:
    app = new_app(emulator, "orders:writer")
    emulator.clear_requests()
    runtime.reconciler.reconcile_app(app)
    calls = [f"{r.method} {r.path}" for r in arm_calls(emulator)]
    assert len(calls) <= 8, calls
    assert sum(1 for c in calls if c.startswith(("PUT", "PATCH"))) == 2, calls


def test_reader_may_select_and_is_refused_insert(emulator: Any, runtime: Any, pg_connect: Any) -> None:
    app = new_app(emulator, "orders:reader")
    runtime.reconciler.reconcile_app(app)
    with pg_connect(principal_name(app, Engine.POSTGRES)) as conn, conn.cursor() as cur:
        cur.execute("SELECT item FROM orders ORDER BY id LIMIT 1")
        assert cur.fetchone() == ("first",)
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("INSERT INTO orders (item) VALUES ('nope')")


def test_writer_may_insert_and_is_refused_create_table(emulator: Any, runtime: Any, pg_connect: Any) -> None:
    app = new_app(emulator, "orders:writer")
    runtime.reconciler.reconcile_app(app)
    with pg_connect(principal_name(app, Engine.POSTGRES)) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (item) VALUES ('by writer') RETURNING id")
        assert cur.fetchone()[0] > 1
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("CREATE TABLE intruder (id int)")
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("TRUNCATE orders")


def test_table_created_after_provisioning_is_readable(
    emulator: Any, runtime: Any, pg_connect: Any, local_postgres: dict[str, Any]
) -> None:
    from emulator.postgres_local import owner_connection

    app = new_app(emulator, "orders:reader")
    runtime.reconciler.reconcile_app(app)
    table = f"later_{uuid.uuid4().hex[:6]}"
    with owner_connection(local_postgres, local_postgres["databases"][0]) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (note text)")  # the name is generated above, not input
        cur.execute(f"INSERT INTO {table} VALUES ('made later')")
    with pg_connect(principal_name(app, Engine.POSTGRES)) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT note FROM {table}")
        assert cur.fetchone() == ("made later",)
    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty


def test_walking_writer_down_to_reader_revokes_exactly_the_excess(emulator: Any, runtime: Any, pg_connect: Any) -> None:
    app = new_app(emulator, "orders:writer")
    runtime.reconciler.reconcile_app(app)
    emulator.set_tags(app.id, {"passwordless": "orders:reader"})
    down = runtime.reconciler.reconcile_app(app)
    assert [type(s).__name__ for s in down.plan.steps] == ["RevokePrivileges"]
    with pg_connect(principal_name(app, Engine.POSTGRES)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("INSERT INTO orders (item) VALUES ('after downgrade')")


def test_hostile_site_name_gives_one_correctly_quoted_role(emulator: Any, runtime: Any, pg_connect: Any) -> None:
    hostile = "o'neil\"; DROP TABLE canary;--" + "ünïcødé-" * 8
    before = roles(pg_connect)
    app = new_app(emulator, "orders:reader", name=hostile + uuid.uuid4().hex[:4])
    runtime.reconciler.reconcile_app(app)
    name = principal_name(app, Engine.POSTGRES)
    assert len(name.encode()) <= 63 and name != app.site
    assert roles(pg_connect) - before == {name}
    with pg_connect(name) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM canary")
        assert cur.fetchone() == (0,)


def test_stale_binding_is_rebound_to_the_new_identity(emulator: Any, runtime: Any, pg_connect: Any) -> None:
    app = new_app(emulator, "orders:reader")
    runtime.reconciler.reconcile_app(app)
    emulator.recreate_system_identity(app.id)
    planned = runtime.reconciler.reconcile_app(app, Mode.PLAN)
    assert isinstance(planned.plan.steps[0], RebindPrincipal)
    runtime.reconciler.reconcile_app(app)
    new_object_id = emulator.identity_of(app.id)[0].lower()
    with pg_connect("postgres", "postgres") as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT objectid FROM pgaadauth_list_principals(false) WHERE rolname = %s",
            (principal_name(app, Engine.POSTGRES),),
        )
        assert cur.fetchone() == (new_object_id,)


def test_revoked_grant_is_found_by_the_audit(emulator: Any, runtime: Any, local_postgres: dict[str, Any]) -> None:
    from psycopg2 import sql

    from emulator.postgres_local import owner_connection

    app = new_app(emulator, "orders:writer")
    runtime.reconciler.reconcile_app(app)
    with owner_connection(local_postgres, local_postgres["databases"][0]) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("REVOKE INSERT ON orders FROM {}").format(sql.Identifier(principal_name(app, Engine.POSTGRES)))
        )
    (found,) = audit(runtime.reconciler, [s for s in runtime.discovery.list_tagged_apps() if s.app.key == app.key]).apps
    assert [d.kind for d in found.drift] == [DriftKind.PRIVILEGE_MISSING]
    assert found.drift[0].detail == "INSERT on table public.orders"


def test_the_plan_never_shows_a_token(emulator: Any, runtime: Any) -> None:
    app = new_app(emulator, "orders:writer")
    text = runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.describe()
    assert "password=" not in text.lower() and "eyJ" not in text


def roles(pg_connect: Any) -> set[str]:
    with pg_connect("postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles")
        return {row[0] for row in cur.fetchall()}


def test_plan_mode_changes_nothing(emulator: Any, runtime: Any, pg_connect: Any) -> None:
    app = new_app(emulator, "orders:reader", settings={"ONLY": "this"})
    emulator.clear_requests()
    planned = runtime.reconciler.reconcile_app(app, Mode.PLAN)
    assert len(planned.plan.steps) == 4 and not planned.applied
    assert arm_writes(emulator) == []
    assert emulator.app_settings(app.id) == {"ONLY": "this"}
    principal = principal_name(app, Engine.POSTGRES)
    with pytest.raises(psycopg2.OperationalError, match="does not exist"), pg_connect(principal):
        pass


def test_client_type_none_writes_only_the_generic_settings_and_the_app_signs_in_with_them(
    emulator: Any, runtime: Any, pg_connect: Any
) -> None:
    """`passwordless-client=none` (Service Connector's client type for no framework) through the real
    reconciler: the generic pieces for the database and the endpoint for Storage, no connection string;
    the app signs in with them; the second plan is empty and the audit finds it clean; moving to a
    framework replaces them, leaving no generic setting behind."""
    tags = {"passwordless": "orders:writer; invoices:reader", "passwordless-client": "none"}
    app = parse_app_id(
        emulator.create_site(
            SUBSCRIPTION, APPS_GROUP, f"none-{uuid.uuid4().hex[:8]}", tags=tags, app_settings={"OWN": "kept"}
        )
    )
    assert runtime.reconciler.reconcile_app(app).applied
    settings = emulator.app_settings(app.id)
    name = principal_name(app, Engine.POSTGRES)
    ours = {k: v for k, v in settings.items() if k.startswith("AZURE_")}
    assert ours == {
        "AZURE_POSTGRESQL_HOST": ours["AZURE_POSTGRESQL_HOST"],
        "AZURE_POSTGRESQL_PORT": "5432",
        "AZURE_POSTGRESQL_DATABASE": ours["AZURE_POSTGRESQL_DATABASE"],
        "AZURE_POSTGRESQL_USER": name,
        "AZURE_POSTGRESQL_SSL": "false",  # the catalog's orders target says tls: disable
        "AZURE_STORAGEBLOB_RESOURCEENDPOINT": f"{emulator.arm_endpoint}/blob/{STORAGE}/",
    }
    assert settings["OWN"] == "kept"
    with (
        pg_connect(settings["AZURE_POSTGRESQL_USER"], settings["AZURE_POSTGRESQL_DATABASE"]) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("INSERT INTO orders (item) VALUES ('client none') RETURNING id")
        assert cur.fetchone()

    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty
    (found,) = audit(runtime.reconciler, [s for s in runtime.discovery.list_tagged_apps() if s.app.key == app.key]).apps
    assert found.status == "clean", found

    emulator.set_tags(app.id, tags | {"passwordless-client": "python"})
    runtime.reconciler.reconcile_app(app)
    moved = {k: v for k, v in emulator.app_settings(app.id).items() if k.startswith("AZURE_")}
    assert set(moved) == {"AZURE_POSTGRESQL_CONNECTIONSTRING", "AZURE_STORAGEBLOB_RESOURCEENDPOINT"}
    assert moved["AZURE_POSTGRESQL_CONNECTIONSTRING"] == (  # the same pieces, in python's one string
        f"dbname={ours['AZURE_POSTGRESQL_DATABASE']} host={ours['AZURE_POSTGRESQL_HOST']} port=5432 "
        f"sslmode=disable user={name}"
    )
