"""The examples operators copy from the docs are real: the catalog loads, the report has the schema."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import yaml

from provisioning.audit import AuditReport
from provisioning.catalog import load_catalog, parse_catalog
from provisioning.report import to_document
from tests.infra.bicep import INFRA, ROOT

OPERATIONS = ROOT / "docs" / "operations.md"


def fenced(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", OPERATIONS.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)


def test_the_example_catalog_loads_and_the_documented_one_is_the_same() -> None:
    example = INFRA / "catalog.example.yaml"
    catalog = load_catalog(str(example))
    assert {t.engine.value for t in catalog.targets.values()} == {"postgres", "mysql", "sql"}
    (documented,) = [block for block in fenced("yaml") if "targets:" in block]
    assert parse_catalog(documented, source="docs/operations.md") == catalog
    assert yaml.safe_load(documented) == yaml.safe_load(example.read_text(encoding="utf-8"))


def test_the_documented_report_has_the_report_schema() -> None:
    (documented,) = [json.loads(block) for block in fenced("json") if '"schema_version"' in block]
    now = datetime.now(UTC)
    actual = to_document(AuditReport(started=now, finished=now, remediate=False))
    assert set(documented) == set(actual)
    assert documented["schema_version"] == actual["schema_version"]
    assert set(documented["summary"]) == set(actual["summary"])
    assert set(documented["summary"]["drift_by_kind"]) <= set(actual["summary"]["drift_by_kind"])
    (app,) = documented["apps"]
    assert set(app) == set(to_document_app_keys())
    assert set(app["drift"][0]) == {"kind", "target", "detail", "fix"}
    assert set(documented["orphans"][0]) == {"kind", "target", "detail", "fix"}


def to_document_app_keys() -> list[str]:
    from provisioning.audit import AppAudit
    from provisioning.resource_ids import parse_app_id

    now = datetime.now(UTC)
    app = parse_app_id("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/a")
    return list(to_document(AuditReport(now, now, False, (AppAudit(app),)))["apps"][0])
