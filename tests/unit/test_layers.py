"""Layer rules import-linter cannot express for a sub-package of an external package."""

import ast
import re
from pathlib import Path

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


def test_no_blanket_privileges_anywhere_in_product_code() -> None:
    forbidden = ("GRANT ALL", "ALL PRIVILEGES", "CONTROL ON", "GRANT CONTROL")
    hits = [
        f"{path.relative_to(ROOT)}: {word}"
        for folder in ("provisioning", "triggers")
        for path in (ROOT / folder).rglob("*.py")
        for word in forbidden
        if word in path.read_text(encoding="utf-8").upper()
    ]
    assert hits == []


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
