"""Open the I/O half of an engine: a session on one server as its Entra administrator.

Drivers are imported here lazily, so an invocation pays only for the engines it touches."""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_never

from provisioning.engines.base import DatabaseSession
from provisioning.models import Engine, ServerInfo


def open_session(engine: Engine, server: ServerInfo, login: str, token: Callable[[], str]) -> DatabaseSession:
    """``token`` returns a fresh Entra access token for the engine's database scope (the password)."""
    if engine is Engine.POSTGRES:
        from provisioning.engines.postgres import PostgresSession

        return PostgresSession(server, login, token)
    if engine is Engine.SQL:
        from provisioning.engines.mssql import SqlSession, odbc_connect

        return SqlSession(server, login, odbc_connect(token))
    if engine is Engine.MYSQL:
        from provisioning.engines.mysql import MysqlSession

        return MysqlSession(server, login, token)
    assert_never(engine)  # mypy proves every engine is handled
