"""Every setting the code reads is set by the Bicep deployment and listed in local.settings.sample.json,
and neither sets anything the code (or the host, or an SDK it relies on) does not read.

The code's settings are discovered, not listed here: the source of ``provisioning/``, ``triggers/``
and ``function_app.py`` is scanned for environment reads (``env.get("X")``, ``os.environ["X"]``,
``os.getenv("X")``), binding expressions in call arguments (``schedule="%X%"``) and binding
connections (``connection="X"``), and the function index the host reads adds its bindings'
``connection`` and ``%X%`` values. A new setting read without updating both files fails here.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.functions_index import indexed
from tests.infra.bicep import ROOT, app_settings, setting_source

SAMPLE = ROOT / "local.settings.sample.json"
SOURCES = (ROOT / "provisioning", ROOT / "triggers", ROOT / "function_app.py")
ENVIRONMENT_NAMES = {"env", "environ", "environment"}
BINDING_EXPRESSION = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")

# Read by something other than the product's code, with the reason they are set.
READ_BY_PLATFORM_IN_AZURE = {
    "AZURE_CLIENT_ID": "azure-identity's DefaultAzureCredential picks the user-assigned identity by it",
}
# Set by the platform itself, never by the deployment nor locally: setting it would fake what it tells.
SET_BY_THE_PLATFORM = {
    "WEBSITE_AUTH_ENABLED": "App Service sets it to True when App Service Authentication is on",
}
READ_BY_PLATFORM_LOCALLY = {
    "FUNCTIONS_WORKER_RUNTIME": "Functions Core Tools (Flex Consumption sets the runtime in functionAppConfig)",
    "IDENTITY_ENDPOINT": "azure-identity's managed identity credential (the emulator's token endpoint)",
    "IDENTITY_HEADER": "azure-identity's managed identity credential (the emulator's token endpoint)",
    "REQUESTS_CA_BUNDLE": "requests, under azure-core, trusts the emulator's local CA",
}
# The identity-based form of the host's storage connection: the host reads these, the code reads
# the URIs itself. AzureWebJobsStorage alone (a connection string with the account key) never
# appears in Azure.
IDENTITY_CONNECTION = {
    "__accountName", "__blobServiceUri", "__queueServiceUri", "__tableServiceUri", "__credential", "__clientId",
}  # fmt: skip
# Read by the code but not yet in local.settings.sample.json, which the team owning it updates; each
# entry must really be missing (the check fails once it is added, so the entry is removed with it).


@dataclass
class Scan:
    settings: set[str] = field(default_factory=set)
    connections: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)


def python_files(sources: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for source in sources:
        files += sorted(source.rglob("*.py")) if source.is_dir() else [source]
    return files


def _is_environment(node: ast.expr) -> bool:
    """``env``, ``environ``, ``os.environ`` (the objects settings are read from)."""
    if isinstance(node, ast.Name):
        return node.id in ENVIRONMENT_NAMES
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _reads_a_setting(func: ast.expr) -> bool:
    """``env.get(...)``, ``os.environ.pop(...)``, ``os.getenv(...)``, ``getenv(...)``."""
    if isinstance(func, ast.Attribute):
        return (func.attr in {"get", "pop"} and _is_environment(func.value)) or func.attr == "getenv"
    return isinstance(func, ast.Name) and func.id == "getenv"


def scan_source(text: str, where: str, scan: Scan) -> None:
    tree = ast.parse(text, filename=where)
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def key_of(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name) and node.id in constants:
            return constants[node.id]
        return None

    def read(node: ast.expr | None, at: ast.AST) -> None:
        name = key_of(node) if node is not None else None
        if name is None:
            scan.unresolved.append(f"{where}:{getattr(at, 'lineno', '?')}")
        else:
            scan.settings.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if _reads_a_setting(node.func):
                read(node.args[0] if node.args else None, node)
            for keyword in node.keywords:
                if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                    scan.settings.update(BINDING_EXPRESSION.findall(keyword.value.value))  # schedule="%X%"
                if keyword.arg == "connection":
                    connection = key_of(keyword.value)
                    if connection is None:
                        scan.unresolved.append(f"{where}:{node.lineno}")
                    else:
                        scan.connections.add(connection)
        elif isinstance(node, ast.Subscript) and _is_environment(node.value):
            read(node.slice, node)


def scan_code(sources: Iterable[Path] = SOURCES) -> Scan:
    scan = Scan()
    for path in python_files(sources):
        scan_source(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), scan)
    return scan


def scan_function_index(scan: Scan) -> None:
    """What the host itself reads from the indexed bindings: connections and ``%NAME%`` expressions."""
    for function in indexed().values():
        for binding in json.loads(function.get_function_json())["bindings"]:
            if isinstance(binding.get("connection"), str):
                scan.connections.add(binding["connection"])
            for value in binding.values():
                if isinstance(value, str):
                    scan.settings.update(BINDING_EXPRESSION.findall(value))


def code_settings() -> Scan:
    scan = scan_code()
    scan_function_index(scan)
    return scan


def connection_of(name: str, connections: set[str]) -> str | None:
    """The binding connection a ``<connection>__<property>`` setting belongs to, if any."""
    prefix, separator, _ = name.partition("__")
    return prefix if separator and prefix in connections else None


def missing(read: set[str], provided: set[str], connections: set[str]) -> set[str]:
    """Settings read but not provided. A connection is provided by its own name or by any of its
    ``__`` properties; a connection's property is provided by itself or by the whole connection."""
    absent = set()
    for name in read:
        if name in provided:
            continue
        if name in connections and any(connection_of(p, connections) == name for p in provided):
            continue
        owner = connection_of(name, connections)
        if owner is not None and owner in provided:
            continue
        absent.add(name)
    return absent


def unexplained(provided: set[str], read: set[str], connections: set[str], platform: dict[str, str]) -> set[str]:
    """Settings provided that nothing reads: not the code, not the host (connections), not the platform."""
    return {
        name
        for name in provided
        if name not in read and name not in connections and connection_of(name, connections) is None
        if name not in platform
    }


def sample_settings() -> set[str]:
    return set(json.loads(SAMPLE.read_text(encoding="utf-8"))["Values"])


# ---- the scanner itself: it finds what is there, and it can fail ----


def test_the_scanner_finds_the_settings_known_to_be_read() -> None:
    found = code_settings()
    assert {
        "PASSWORDLESS_CATALOG",
        "PASSWORDLESS_FUNCTION_OBJECT_ID",
        "PASSWORDLESS_SUBSCRIPTIONS",
        "PASSWORDLESS_OUTCOME_TOPIC_ENDPOINT",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "AzureWebJobsStorage",
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__tableServiceUri",
        "PASSWORDLESS_AUDIT_SCHEDULE",  # only as the timer's %binding expression%
    } <= found.settings
    assert found.connections == {"AzureWebJobsStorage"}
    assert found.unresolved == [], "settings read through expressions the scanner cannot name"


def test_the_scanner_finds_each_way_of_reading_a_setting(tmp_path: Path) -> None:
    module = tmp_path / "reads.py"
    module.write_text(
        "import os\n"
        "NAME = 'NEW_BY_CONSTANT'\n"
        "def f(env):\n"
        "    env.get('NEW_BY_GET', '')\n"
        "    os.environ['NEW_BY_INDEX']\n"
        "    os.getenv('NEW_BY_GETENV')\n"
        "    os.environ.get(NAME)\n"
        "    bind(schedule='%NEW_BY_BINDING%', connection='NewConnection')\n"
        "    stamp = f'{when:%Y%m%dT%H%M%S}'  # a date format, not a binding expression\n"
        "    env.get(compute())\n",
        encoding="utf-8",
    )
    scan = Scan()
    scan_source(module.read_text(encoding="utf-8"), "reads.py", scan)
    assert scan.settings == {"NEW_BY_CONSTANT", "NEW_BY_GET", "NEW_BY_INDEX", "NEW_BY_GETENV", "NEW_BY_BINDING"}
    assert scan.connections == {"NewConnection"}
    assert scan.unresolved == ["reads.py:10"]


def test_a_setting_read_but_not_provided_is_reported() -> None:
    connections = {"AzureWebJobsStorage"}
    provided = {"PASSWORDLESS_CATALOG", "AzureWebJobsStorage__blobServiceUri"}
    read = {"PASSWORDLESS_CATALOG", "PASSWORDLESS_NEW", "AzureWebJobsStorage", "AzureWebJobsStorage__tableServiceUri"}
    assert missing(read, provided, connections) == {"PASSWORDLESS_NEW", "AzureWebJobsStorage__tableServiceUri"}
    assert missing({"AzureWebJobsStorage__tableServiceUri"}, {"AzureWebJobsStorage"}, connections) == set()
    assert unexplained({"PASSWORDLESS_STALE", "AzureWebJobsStorage__clientId"}, set(), connections, {}) == {
        "PASSWORDLESS_STALE"
    }


# ---- the code, the deployment and the local sample agree ----


def test_the_deployment_sets_every_setting_the_code_reads() -> None:
    code = code_settings()
    assert missing(code.settings - set(SET_BY_THE_PLATFORM), set(app_settings()), code.connections) == set()


def test_what_the_platform_sets_is_read_and_never_set_by_the_deployment_or_the_sample() -> None:
    assert set(SET_BY_THE_PLATFORM) <= code_settings().settings
    assert not set(SET_BY_THE_PLATFORM) & (set(app_settings()) | sample_settings())


def test_the_deployment_sets_nothing_that_nobody_reads() -> None:
    code = code_settings()
    assert unexplained(set(app_settings()), code.settings, code.connections, READ_BY_PLATFORM_IN_AZURE) == set()


def test_the_host_storage_connection_is_identity_based() -> None:
    settings = set(app_settings())
    for connection in code_settings().connections:
        assert connection not in settings, f"{connection} alone is a connection string with the account key"
        assert {connection + suffix for suffix in IDENTITY_CONNECTION} <= settings
        assert setting_source(f"{connection}__credential") == "'managedidentity'"
        assert setting_source(f"{connection}__clientId") == "identityClientId"
    assert setting_source("AZURE_CLIENT_ID") == "identityClientId"
    assert setting_source("PASSWORDLESS_FUNCTION_OBJECT_ID") == "identityPrincipalId"


def test_the_local_sample_lists_every_setting_the_code_reads() -> None:
    code = code_settings()
    absent = missing(code.settings - set(SET_BY_THE_PLATFORM), sample_settings(), code.connections)
    assert absent == set(), "add these to local.settings.sample.json"


def test_the_local_sample_lists_nothing_that_nobody_reads() -> None:
    code = code_settings()
    assert unexplained(sample_settings(), code.settings, code.connections, READ_BY_PLATFORM_LOCALLY) == set()
