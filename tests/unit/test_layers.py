"""Layer rules import-linter cannot express for a sub-package of an external package, and the privileges
the planner may grant: an allow-list per engine, checked on generated plans."""

import ast
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.catalog import catalog_from_document
from provisioning.models import DatabaseState, Engine, Grant, Privilege, ServerInfo
from provisioning.plan import GrantPrivileges, Plan
from provisioning.planner import Desired, Observed, plan
from provisioning.policy import authorize
from provisioning.requests import request_from_tags
from provisioning.resource_ids import parse_resource_id
from tests.factories import APP, SERVER_ID, SUB, site

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_core_never_imports_the_functions_host() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "provisioning").rglob("*.py")
        if any(name == "azure.functions" or name.startswith("azure.functions.") for name in imported_modules(path))
    ]
    assert offenders == []


def test_the_layer_check_would_notice_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import azure.functions as func\n", encoding="utf-8")
    assert "azure.functions" in imported_modules(sample)


# Every privilege keyword the planner may ever grant, per engine (docs/permissions.md, "The app's own
# least privilege"): no ALL, no CONTROL, no GRANT OPTION, no DROP (MySQL's on ``db``.* drops the database).
GRANTABLE = {
    Engine.POSTGRES: {"CONNECT", "USAGE", "CREATE", "SELECT", "INSERT", "UPDATE", "DELETE"},
    Engine.MYSQL: {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "INDEX", "REFERENCES"},
    Engine.SQL: {"CONNECT", "SELECT", "INSERT", "UPDATE", "DELETE", "ALTER", "CREATE TABLE", "CREATE VIEW"},
}
SERVERS = {
    Engine.POSTGRES: SERVER_ID,
    Engine.MYSQL: SERVER_ID.replace("DBforPostgreSQL", "DBforMySQL"),
    Engine.SQL: SERVER_ID.replace("DBforPostgreSQL/flexibleServers", "Sql/servers"),
}
NAMES = st.text(alphabet="abc_.", min_size=1, max_size=4)


def granted_beyond_the_allow_list(plan: Plan, engine: Engine) -> set[str]:
    granted = {g.privilege for step in plan.steps if isinstance(step, GrantPrivileges) for g in step.grants}
    return granted - GRANTABLE[engine]


@settings(max_examples=150, deadline=None)
@given(
    engine=st.sampled_from(list(Engine)),
    privileges=st.sets(st.sampled_from(list(Privilege)), min_size=1),
    schemas=st.lists(st.sampled_from(["public", "dbo", "app"]), min_size=1, max_size=2, unique=True),
    tables=st.lists(st.tuples(st.sampled_from(["public", "dbo", "app"]), NAMES), max_size=4),
    owner=st.none() | st.just("owner_role"),
)
def test_the_planner_grants_only_allow_listed_privileges(
    engine: Engine,
    privileges: set[Privilege],
    schemas: list[str],
    tables: list[tuple[str, str]],
    owner: str | None,
) -> None:
    target: dict[str, object] = {
        "name": "t",
        "engine": engine.value,
        "server": SERVERS[engine],
        "database": "d",
        "roles": ["reader", "writer", "ddl", "custom"],
        "allowed_sources": [f"/subscriptions/{SUB}"],
    }
    if engine is not Engine.MYSQL:
        target["schemas"] = schemas
    catalog = catalog_from_document({"profiles": {"custom": [p.value for p in privileges]}, "targets": [target]})
    server = ServerInfo(parse_resource_id(SERVERS[engine]), "host", ())
    objects = {"table": tuple(tables), "sequence": tuple((schema, name + "_seq") for schema, name in tables)}
    for role in catalog.targets["t"].roles:
        request = request_from_tags(APP, {"passwordless": f"t:{role}"})
        desired = Desired(request, authorize(request, catalog))
        observed = Observed(site(), {server.id.key: server}, {"t": DatabaseState(None, frozenset(), objects, owner)})
        assert granted_beyond_the_allow_list(plan(desired, observed), engine) == set(), (engine, role)


def test_the_allow_list_check_would_notice_a_blanket_grant() -> None:
    blanket = Plan(APP, (GrantPrivileges("t", "p", (Grant("database", ("d",), "ALL PRIVILEGES"),)),))
    assert granted_beyond_the_allow_list(blanket, Engine.MYSQL) == {"ALL PRIVILEGES"}


def test_engines_are_named_only_in_their_own_package() -> None:
    """Every engine-specific decision is its dialect's: no ``Engine.X`` branch outside ``engines/``."""
    engines = ROOT / "provisioning" / "engines"
    pattern = re.compile(r"\bEngine\.[A-Z]")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("provisioning", "triggers")
        for path in (ROOT / folder).rglob("*.py")
        if engines not in path.parents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert offenders == []
    assert pattern.search("if target.engine is Engine.POSTGRES:")
