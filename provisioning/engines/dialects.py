"""Every engine's dialect, by engine: the one place that knows which engines exist."""

from __future__ import annotations

from provisioning.engines.dialect import Dialect
from provisioning.engines.mssql_dialect import SqlDialect
from provisioning.engines.mysql_dialect import MysqlDialect
from provisioning.engines.postgres_dialect import PostgresDialect
from provisioning.models import Engine

DIALECTS: dict[Engine, Dialect] = {d.engine: d for d in (PostgresDialect(), MysqlDialect(), SqlDialect())}


def dialect_for(engine: Engine) -> Dialect:
    return DIALECTS[engine]
