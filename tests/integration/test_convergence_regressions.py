"""Histories that never converged (or silently kept access) before the engine dialects and the
managed-target memory: one named regression test per case, each proving the end state on the
servers themselves (logging in as the principal where a database is real)."""

from __future__ import annotations

import copy
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.config import Config
from provisioning.models import Engine
from provisioning.principal_names import principal_name
from provisioning.reconciler import Mode
from provisioning.resource_ids import AppRef, parse_app_id
from provisioning.runtime import Runtime, build_runtime
from tests.estates import APPS_GROUP, SUBSCRIPTION, build_catalog
from tests.integration.test_sql_provisioning import reconciler_for, sql_environment
from tests.sql_fake import FakeSqlServer

pytestmark = pytest.mark.integration
# The SQL slice's fixture, shared; it is asked for after the session's environment, which it restores.
__all__ = ["sql_environment"]


def new_app(emulator: Any, tag: str | None, *, name: str | None = None) -> AppRef:
    tags = {"passwordless": tag} if tag is not None else {}
    return parse_app_id(
        emulator.create_site(SUBSCRIPTION, APPS_GROUP, name or f"rg-{uuid.uuid4().hex[:10]}", tags=tags)
    )


@pytest.fixture
def runtime_with(product_environment: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """A runtime over an edited copy of the estate's catalog."""

    def build(edit: Any) -> Runtime:
        with Path(product_environment["PASSWORDLESS_CATALOG"]).open(encoding="utf-8") as handle:
            document = json.load(handle)
        edit(document)
        path = tmp_path / f"catalog-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        patch.setenv("PASSWORDLESS_CATALOG", str(path))
        return build_runtime(Config.from_environment())

    with pytest.MonkeyPatch.context() as patch:
        yield build


def target_entry(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(entry for entry in document["targets"] if entry["name"] == name)


# 1 -------------------------------------------------------------------------------------------------
def test_sql_two_databases_on_one_server_converge_and_are_removed(
    product_environment: dict[str, str], emulator: Any, sql_environment: Config, estate: dict[str, Any]
) -> None:
    """SQL users live per database: ``sales:reader; billing:reader`` makes a user in each."""
    document = build_catalog(estate)
    sales = target_entry(document, "sales")
    sales["on_remove"] = "revoke"
    document["targets"] = [sales, {**copy.deepcopy(sales), "name": "billing", "database": "billing"}]
    database = FakeSqlServer(["sales", "billing"])
    reconciler = reconciler_for(sql_environment, database, document)
    app = new_app(emulator, "sales:reader; billing:reader")
    name = principal_name(app, Engine.SQL).lower()

    result = reconciler.reconcile_app(app)

    assert result is not None and result.applied
    for db in ("sales", "billing"):
        assert name in database.databases[db].users
        assert database.databases[db].grants[name] == {(None, "CONNECT"), ("dbo", "SELECT")}
    assert reconciler.reconcile_app(app, Mode.PLAN).plan.empty  # type: ignore[union-attr]

    emulator.delete_site(app.id)
    assert reconciler.remove_app(app).applied
    assert all(name not in database.databases[db].users for db in ("sales", "billing"))
    assert reconciler.remove_app(app, Mode.PLAN).plan.empty


# 2 -------------------------------------------------------------------------------------------------
def app_that_made_a_table(
    emulator: Any, runtime: Runtime, pg_connect: Any, tag: str, database: str
) -> tuple[AppRef, str, str]:
    """A provisioned app whose principal ran a migration in ``database``: (app, its role, the table)."""
    site = f"mig-{uuid.uuid4().hex[:8]}"
    app = new_app(emulator, tag, name=site)
    role = principal_name(app, Engine.POSTGRES)
    runtime.reconciler.reconcile_app(app)
    table = f"made_by_{site.replace('-', '_')}"
    with pg_connect(role, database) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE TABLE public."{table}" (id int)')
    return app, role, table


def test_postgres_principal_that_owns_tables_is_rebound_and_removed_without_losing_data(
    emulator: Any, runtime_with: Any, pg_connect: Any, local_postgres: dict[str, Any]
) -> None:
    """A ``ddl`` app owns the tables its migrations made. Recreated (new identity), its new principal
    takes them over; removed (``on_remove: revoke``), they pass to the owner role. No row is lost."""

    def ledger_takes_ddl(document: dict[str, Any]) -> None:
        target_entry(document, "ledger")["roles"] = ["reader", "writer", "ddl"]

    runtime = runtime_with(ledger_takes_ddl)
    ledger = local_postgres["databases"][1]
    app, role, table = app_that_made_a_table(emulator, runtime, pg_connect, "ledger:ddl", ledger)
    with pg_connect(role, ledger) as conn, conn.cursor() as cur:
        cur.execute(f'INSERT INTO public."{table}" VALUES (1)')

    emulator.delete_site(app.id)
    runtime.reconciler.remove_app(app, Mode.PLAN)  # planning removal of a deleted app changes nothing
    again = new_app(emulator, "ledger:ddl", name=app.site)
    rebound = runtime.reconciler.reconcile_app(again)

    assert rebound is not None and rebound.applied
    with pg_connect(role, ledger) as conn, conn.cursor() as cur:
        cur.execute(f'INSERT INTO public."{table}" VALUES (2)')
        cur.execute(f'SELECT count(*) FROM public."{table}"')
        assert cur.fetchone()[0] == 2
    assert runtime.reconciler.reconcile_app(again, Mode.PLAN).plan.empty

    emulator.delete_site(again.id)
    removed = runtime.reconciler.remove_app(again)

    assert removed.applied
    with pg_connect("postgres", ledger) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,))
        assert cur.fetchone()[0] == 0
        cur.execute(f'SELECT count(*) FROM public."{table}"')
        assert cur.fetchone()[0] == 2
        cur.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass", (f'public."{table}"',))
        owner = cur.fetchone()[0]
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert owner == cur.fetchone()[0]  # the catalog's owner role (here the database owner)
    assert runtime.reconciler.remove_app(again, Mode.PLAN).plan.empty


def test_a_retired_postgres_principal_hands_each_database_its_tables_to_that_databases_owner(
    emulator: Any, runtime_with: Any, pg_connect: Any, local_postgres: dict[str, Any]
) -> None:
    """The role made a table in ``orders`` (on_remove: report); the tag goes, ``ledger`` says revoke, so
    the role is retired: the table passes to ``orders``' owner, never to ``ledger``'s, so a later
    request for ``orders`` covers it again."""
    orders, _ = local_postgres["databases"]
    runtime = runtime_with(lambda document: None)
    app, role, table = app_that_made_a_table(emulator, runtime, pg_connect, "orders:ddl; ledger:writer", orders)

    emulator.set_tags(app.id, {})
    runtime.reconciler.reconcile_app(app)

    with pg_connect("postgres", orders) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass", (f'public."{table}"',))
        owner = cur.fetchone()[0]
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert owner == cur.fetchone()[0]

    emulator.set_tags(app.id, {"passwordless": "orders:writer"})
    runtime.reconciler.reconcile_app(app)
    with pg_connect(role, orders) as conn, conn.cursor() as cur:
        cur.execute(f'INSERT INTO public."{table}" VALUES (1)')


# 6 -------------------------------------------------------------------------------------------------
def test_the_app_lock_lives_as_long_as_the_reconcile_and_a_lost_one_says_so(
    emulator: Any, product_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage's shortest lease (15 s), held for longer: still ours, so a second worker waits; then a
    lease broken from outside ends the work with ``LockLost``, not a storage error."""
    from azure.storage.blob import BlobLeaseClient, BlobServiceClient

    from provisioning import errors
    from provisioning.azure import locks
    from provisioning.azure.credentials import default_credential

    monkeypatch.setattr(locks, "LEASE_SECONDS", 15)
    app = new_app(emulator, None, name=f"slow-{uuid.uuid4().hex[:8]}")
    config = Config.from_environment()
    holder = locks.AppLocks(default_credential(), config)
    second = locks.AppLocks(default_credential(), config, wait_seconds=0.5)
    with holder.hold(app):
        time.sleep(18)  # longer than the lease
        with pytest.raises(errors.LockBusy):
            second.hold(app).__enter__()

    lost = getattr(errors, "LockLost", errors.ProvisioningError)
    blob = (
        BlobServiceClient.from_connection_string(product_environment["AzureWebJobsStorage"])
        .get_container_client(locks.CONTAINER)
        .get_blob_client(hashlib.sha256(app.key.encode()).hexdigest())
    )
    with pytest.raises(lost, match=r"lock of .* was lost") as caught, holder.hold(app):
        BlobLeaseClient(blob).break_lease(lease_break_period=0)
    assert type(caught.value).__name__ == "LockLost"
    with second.hold(app):  # nobody holds it now
        pass


# 4 -------------------------------------------------------------------------------------------------
def test_an_http_apply_on_a_tagged_app_is_the_tag_or_a_conflict_naming_it(emulator: Any, runtime: Any) -> None:
    """The tag governs a tagged app: an HTTP apply asking the same reconciles the tag and leaves no
    trace that could read as drift; one asking anything else is refused (409) and changes nothing."""
    from provisioning.errors import Conflict
    from provisioning.requests import REQUEST_SETTING, request_from_body

    app = new_app(emulator, "orders:reader")
    same = request_from_body({"app": app.id, "connections": ["orders:reader"]})
    applied = runtime.reconciler.reconcile_request(same)

    assert applied.applied
    assert REQUEST_SETTING not in emulator.app_settings(app.id)
    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty  # status: no setting-changed
    assert runtime.reconciler.reconcile_request(same).plan.empty  # a repeated apply is a no-op

    before = emulator.app_settings(app.id)
    emulator.clear_requests()
    other = request_from_body({"app": app.id, "connections": ["orders:writer"]})
    with pytest.raises(Conflict, match="managed by its tag 'passwordless' = 'orders:reader'"):
        runtime.reconciler.reconcile_request(other)
    assert emulator.app_settings(app.id) == before
    assert [r for r in emulator.requests if r.method in ("PUT", "PATCH", "DELETE")] == []


# 5 -------------------------------------------------------------------------------------------------
def test_one_bad_entry_is_reported_and_skipped_while_the_others_converge(
    emulator: Any, runtime: Any, pg_connect: Any
) -> None:
    """``orders:reader; nowhere:writer; orders-mysql`` : the unknown target is policy-denied and the
    malformed entry request-invalid, each named; ``orders`` still converges and works, and the audit
    counts its principal as the app's, not an orphan."""
    from provisioning.audit import DriftKind, audit

    app = new_app(emulator, "orders:reader; nowhere:writer; orders-mysql")
    role = principal_name(app, Engine.POSTGRES)
    result = runtime.reconciler.reconcile_app(app)

    assert result is not None and result.applied
    assert [(e.entry, e.denied) for e in result.plan.skipped] == [("orders-mysql", False), ("nowhere:writer", True)]
    with pg_connect(role) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        assert cur.fetchone()[0] >= 1
    again = runtime.reconciler.reconcile_app(app)
    assert again is not None and not again.applied and again.plan.empty  # converged, entries still skipped

    site = next(s for s in runtime.discovery.list_tagged_apps() if s.app.key == app.key)
    report = audit(runtime.reconciler, [site])
    (found,) = report.apps
    assert sorted((d.kind, d.target) for d in found.drift) == [
        (DriftKind.POLICY_DENIED, "nowhere"),
        (DriftKind.REQUEST_INVALID, None),
    ]
    assert "nowhere" in next(d.detail for d in found.drift if d.kind is DriftKind.POLICY_DENIED)
    assert not [o for o in report.orphans if repr(role) in o.detail]


# 3 -------------------------------------------------------------------------------------------------
def acl_entries_of(pg_connect: Any, database: str, role: str) -> int:
    """Privileges naming the role in one database: on it, its schemas, its tables, default privileges."""
    with pg_connect("postgres", database) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a"
            "         WHERE d.datname = current_database() AND a.grantee = r.oid)"
            "     + (SELECT count(*) FROM pg_namespace n, aclexplode(n.nspacl) a WHERE a.grantee = r.oid)"
            "     + (SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = r.oid)"
            "     + (SELECT count(*) FROM pg_default_acl d, aclexplode(d.defaclacl) a WHERE a.grantee = r.oid)"
            "  FROM pg_roles r WHERE r.rolname = %s",
            (role,),
        )
        return int(cur.fetchone()[0])


def test_a_target_dropped_from_the_tag_is_revoked_or_reported(
    emulator: Any, runtime: Any, pg_connect: Any, local_postgres: dict[str, Any]
) -> None:
    """``orders:writer; ledger:writer`` -> ``orders:writer``: ``ledger`` (on_remove: revoke) loses every
    grant while ``orders`` keeps working; then -> ``ledger:writer``: ``orders`` (on_remove: report)
    keeps its grants and the audit reports them as privilege-unrequested."""
    from provisioning.audit import DriftKind, audit

    orders, ledger = local_postgres["databases"]
    app = new_app(emulator, "orders:writer; ledger:writer")
    role = principal_name(app, Engine.POSTGRES)
    runtime.reconciler.reconcile_app(app)
    assert acl_entries_of(pg_connect, ledger, role) > 0

    emulator.set_tags(app.id, {"passwordless": "orders:writer"})
    dropped = runtime.reconciler.reconcile_app(app)

    assert dropped is not None and dropped.applied
    assert acl_entries_of(pg_connect, ledger, role) == 0
    with pg_connect(role, orders) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (item) VALUES ('still works')")
    assert runtime.reconciler.reconcile_app(app, Mode.PLAN).plan.empty

    emulator.set_tags(app.id, {"passwordless": "ledger:writer"})
    runtime.reconciler.reconcile_app(app)
    assert acl_entries_of(pg_connect, orders, role) > 0  # report: nothing is taken away
    site = next(s for s in runtime.discovery.list_tagged_apps() if s.app.key == app.key)
    report = audit(runtime.reconciler, [site])
    unrequested = [o for o in report.orphans if repr(role) in o.detail]
    assert [(o.kind, o.target) for o in unrequested] == [(DriftKind.PRIVILEGE_UNREQUESTED, "orders")]


# 5, continued ---------------------------------------------------------------------------------------
def test_a_skipped_entry_keeps_its_principal_its_settings_and_the_plain_names(
    emulator: Any, runtime_with: Any, pg_connect: Any, local_postgres: dict[str, Any]
) -> None:
    """``orders:writer; ledger:writer`` on one PostgreSQL server (one server-wide role), then the catalog
    stops offering ``writer`` on ``orders`` and the tag swaps ``ledger`` (on_remove: revoke) for a blob
    container: ``ledger``
    loses its grants but the role is not dropped, because the skipped ``orders`` entry still uses it;
    ``orders``' settings stay, still managed, and the plain names still point at ``orders``."""
    orders, ledger = local_postgres["databases"]
    app = new_app(emulator, "orders:writer; ledger:writer")
    role = principal_name(app, Engine.POSTGRES)
    build_runtime_for = runtime_with
    first = build_runtime_for(lambda document: None).reconciler
    first.reconcile_app(app)
    before = emulator.app_settings(app.id)
    plain = {k: v for k, v in before.items() if k.startswith("AZURE_POSTGRESQL_") and "_LEDGER_" not in k}
    assert any(orders in v for v in plain.values())

    def unoffer_writer_on_orders(document: dict[str, Any]) -> None:
        entry = target_entry(document, "orders")
        entry["roles"] = [r for r in entry["roles"] if r != "writer"]

    reconciler = build_runtime_for(unoffer_writer_on_orders).reconciler
    emulator.set_tags(app.id, {"passwordless": "orders:writer; invoices:reader"})
    result = reconciler.reconcile_app(app)

    assert result is not None and [e.entry for e in result.plan.skipped] == ["orders:writer"]
    assert acl_entries_of(pg_connect, ledger, role) == 0
    with pg_connect(role, orders) as conn, conn.cursor() as cur:  # the role lives on, with its grants
        cur.execute("INSERT INTO orders (item) VALUES ('skipped, untouched')")
    after = emulator.app_settings(app.id)
    assert {k: after.get(k) for k in plain} == plain
    managed = set(after["PASSWORDLESS_MANAGED_KEYS"].split(","))
    assert set(plain) <= managed
    assert reconciler.reconcile_app(app, Mode.PLAN).plan.empty


def test_a_skipped_entry_keeps_its_grants_when_the_shared_principal_moves_to_a_new_identity(
    emulator: Any, runtime_with: Any, pg_connect: Any, local_postgres: dict[str, Any]
) -> None:
    """The server-wide role is made anew, bound to the identity the app switched to: ``ledger`` is
    granted afresh, and what the skipped ``orders`` entry held is granted again exactly as it was."""
    orders, ledger = local_postgres["databases"]
    app = new_app(emulator, "orders:writer; ledger:writer")
    role = principal_name(app, Engine.POSTGRES)
    runtime_with(lambda document: None).reconciler.reconcile_app(app)
    held = acl_entries_of(pg_connect, orders, role), acl_entries_of(pg_connect, ledger, role)

    def unoffer_writer_on_orders(document: dict[str, Any]) -> None:
        entry = target_entry(document, "orders")
        entry["roles"] = [r for r in entry["roles"] if r != "writer"]

    reconciler = runtime_with(unoffer_writer_on_orders).reconciler
    emulator.set_tags(
        app.id, {"passwordless": "orders:writer; ledger:writer", "passwordless-identity": f"create:{app.site}-id"}
    )
    result = reconciler.reconcile_app(app)

    assert result is not None and [e.entry for e in result.plan.skipped] == ["orders:writer"]
    kinds = [(type(s).__name__, getattr(s, "target", None)) for s in result.plan.steps]
    assert kinds.index(("RebindPrincipal", "ledger")) < kinds.index(("GrantPrivileges", "orders"))
    (created,) = emulator.site(app.id)["identity"]["userAssignedIdentities"].values()
    with pg_connect("postgres", "postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT objectid FROM pgaadauth_list_principals(false) WHERE rolname = %s", (role,))
        assert cur.fetchone()[0].lower() == created["principalId"].lower()
    assert (acl_entries_of(pg_connect, orders, role), acl_entries_of(pg_connect, ledger, role)) == held
    with pg_connect(role, orders) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (item) VALUES ('skipped, carried over')")
    assert reconciler.reconcile_app(app, Mode.PLAN).plan.empty


# 7 -------------------------------------------------------------------------------------------------
def two_targets_on_one_server(engine: str, local_mysql: dict[str, Any]) -> Any:
    """The catalog edit that gives an engine two targets in two databases of one server."""

    def edit(document: dict[str, Any]) -> None:
        if engine == "mysql":
            second = {**target_entry(document, "orders-mysql"), "name": "audit-mysql"}
            document["targets"].append(dict(second, database=local_mysql["databases"][1]))

    return edit


def drop_by_hand(engine: str, role: str, pg_connect: Any, local_postgres: dict[str, Any]) -> None:
    """What a DBA does to a server-wide principal: its privileges, then the principal itself."""
    if engine == "postgres":
        for database in local_postgres["databases"]:
            with pg_connect("postgres", database) as conn, conn.cursor() as cur:
                cur.execute(f'DROP OWNED BY "{role}"')  # generated name: no quoting hazards
        with pg_connect("postgres") as conn, conn.cursor() as cur:
            cur.execute(f'DROP ROLE "{role}"')
        return
    from emulator.mysql_local import RootLogin, root_connection
    from tests.conftest import MARIADB_HOST, MARIADB_PORT

    with root_connection(root=RootLogin(host=MARIADB_HOST, port=int(MARIADB_PORT))) as conn, conn.cursor() as cur:
        cur.execute("DROP USER %s@'%%'", (role,))


@pytest.mark.parametrize(
    ("engine", "tag", "targets"),
    [
        ("postgres", "orders:reader; ledger:reader", ("ledger", "orders")),
        ("mysql", "orders-mysql:reader; audit-mysql:reader", ("audit-mysql", "orders-mysql")),
    ],
)
def test_a_shared_principal_dropped_by_hand_is_the_one_cause_the_audit_reports(
    emulator: Any,
    runtime_with: Any,
    pg_connect: Any,
    local_postgres: dict[str, Any],
    local_mysql: dict[str, Any],
    engine: str,
    tag: str,
    targets: tuple[str, str],
) -> None:
    """A PostgreSQL role and a MySQL user are server-wide: two targets on one server share one. Dropped
    by hand, it is missing for both targets; neither reports privileges missing, which only follow from
    it. Status and audit say the same, and the remediating apply restores both."""
    from provisioning.audit import DriftKind, audit
    from provisioning.status import app_status

    runtime = runtime_with(two_targets_on_one_server(engine, local_mysql))
    app = new_app(emulator, tag)
    role = principal_name(app, Engine(engine))
    assert runtime.reconciler.reconcile_app(app).applied
    drop_by_hand(engine, role, pg_connect, local_postgres)

    site = next(s for s in runtime.discovery.list_tagged_apps() if s.app.key == app.key)
    report = audit(runtime.reconciler, [site])
    (found,) = report.apps
    missing = [(DriftKind.PRINCIPAL_MISSING, target) for target in targets]
    assert sorted((d.kind, d.target) for d in found.drift) == missing
    assert report.drift_by_kind()[DriftKind.PRIVILEGE_MISSING.value] == 0
    assert not [o for o in report.orphans if repr(role) in o.detail]
    status = app_status(runtime, app)
    assert sorted((d["kind"], d["target"]) for d in status["drift"]) == [(k.value, t) for k, t in missing]

    assert runtime.reconciler.reconcile_app(app).applied
    again = audit(runtime.reconciler, [site])
    assert [a.status for a in again.apps] == ["clean"]


# 6 -------------------------------------------------------------------------------------------------
def test_a_dropped_sql_target_is_revoked_when_the_request_keeps_only_an_rbac_entry(
    emulator: Any, sql_environment: Config, estate: dict[str, Any]
) -> None:
    """``sales:reader; invoices:reader`` -> ``invoices:reader``: a SQL user is bound to the identity's
    client id, which the reconcile must read to know the user is the app's own even when no SQL entry
    is asked for any more; ``sales`` says on_remove: revoke, so the user loses its access."""
    document = build_catalog(estate)
    target_entry(document, "sales")["on_remove"] = "revoke"
    database = FakeSqlServer(["sales"])
    reconciler = reconciler_for(sql_environment, database, document)
    app = new_app(emulator, "sales:reader; invoices:reader")
    name = principal_name(app, Engine.SQL).lower()
    reconciler.reconcile_app(app)
    assert database.databases["sales"].grants[name] == {(None, "CONNECT"), ("dbo", "SELECT")}

    emulator.set_tags(app.id, {"passwordless": "invoices:reader"})
    reconciler.reconcile_app(app)

    assert name not in database.databases["sales"].users
    assert reconciler.reconcile_app(app, Mode.PLAN).plan.empty  # type: ignore[union-attr]
