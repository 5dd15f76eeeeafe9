"""Statements counted by the database servers themselves, for tests and benchmarks.

Figures about database work must not come from the code being measured, so the local servers keep
the record: PostgreSQL logs every statement of one login (``log_statement = 'all'`` set on that role,
which needs no restart, unlike ``pg_stat_statements``), and MariaDB writes its general log to the
``mysql.general_log`` table. Both are read back per database and sorted into reads (``SELECT``),
writes (anything that changes state) and transaction or session control, which is neither.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

from emulator.mysql_local import root_connection
from emulator.postgres_local import DEFAULT_SUPERUSER_DSN

CONTROL = frozenset({"BEGIN", "START", "COMMIT", "ROLLBACK", "SET", "SHOW", "SAVEPOINT", "RELEASE", "USE"})
READS = frozenset({"SELECT", "WITH", "TABLE", "VALUES"})
# %u@%d names the login and database on every line; Debian's default prefix already does.
LOG_LINE_PREFIX = "%m [%p] %q%u@%d "


def kind_of(statement: str) -> str:
    words = statement.lstrip(" \t\r\n(").split(None, 1)
    word = words[0].upper().rstrip(";") if words else ""
    if word in READS:
        return "read"
    return "control" if word in CONTROL else "write"


@dataclass
class StatementCounts:
    """Per database: how many reads, writes and control statements the server ran."""

    by_database: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def reads(self, database: str) -> int:
        return self.by_database.get(database, Counter())["read"]

    def writes(self, database: str) -> int:
        return self.by_database.get(database, Counter())["write"]

    def total_writes(self) -> int:
        return sum(counts["write"] for counts in self.by_database.values())


# -- PostgreSQL --------------------------------------------------------------------------------
def _postgres_log_file(cur: Any) -> Path:
    """Where this server writes its log: the collector's current file, or (Debian, no collector) the
    file ``pg_lsclusters`` names for the cluster whose data directory this is."""
    cur.execute("SELECT pg_current_logfile(), current_setting('data_directory')")
    current, data_directory = cur.fetchone()
    if current:
        path = Path(current)
        return path if path.is_absolute() else Path(data_directory) / path
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[5] == data_directory:
            return Path(fields[6])
    raise RuntimeError(f"cannot find the log of the PostgreSQL cluster in {data_directory}")


@contextmanager
def postgres_statements(login: str, *, dsn: str = DEFAULT_SUPERUSER_DSN) -> Iterator[StatementCounts]:
    """Count what ``login`` runs on the local PostgreSQL inside the block (sessions opened within it).

    The counts fill in when the block ends."""
    counts = StatementCounts()
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW log_line_prefix")
            (prefix,) = cur.fetchone()
            if "%u@%d" not in prefix:
                cur.execute("ALTER SYSTEM SET log_line_prefix = %s", (LOG_LINE_PREFIX,))
                cur.execute("SELECT pg_reload_conf()")
            log_file = _postgres_log_file(cur)
            start = log_file.stat().st_size
            cur.execute(sql.SQL("ALTER ROLE {} SET log_statement = 'all'").format(sql.Identifier(login)))
        try:
            yield counts
        finally:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("ALTER ROLE {} RESET log_statement").format(sql.Identifier(login)))
            _read_postgres_log(log_file, start, login, counts)
    finally:
        conn.close()


def _read_postgres_log(log_file: Path, start: int, login: str, counts: StatementCounts) -> None:
    """A statement may span lines: the server continues it on lines that start with a tab."""
    line = re.compile(r"\] " + re.escape(login) + r"@(\S*) LOG:  statement: (.*)")
    pending: tuple[str, list[str]] | None = None

    def finish() -> None:
        if pending is not None:
            database, text = pending
            counts.by_database[database][kind_of(" ".join(text))] += 1

    with log_file.open("rb") as handle:
        handle.seek(start)
        for raw in handle:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            if pending is not None and text.startswith("\t"):
                pending[1].append(text)
                continue
            finish()
            found = line.search(text)
            pending = (found.group(1), [found.group(2)]) if found else None
    finish()


# -- MariaDB -----------------------------------------------------------------------------------
@contextmanager
def mariadb_statements(login: str) -> Iterator[StatementCounts]:
    """Count what ``login`` runs on the local MariaDB inside the block, from the general log table.

    The general log is global, so it is on only for the block and its previous settings come back."""
    counts = StatementCounts()
    with root_connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@global.general_log, @@global.log_output, NOW(6)")
        was_on, output, since = cur.fetchone()
        cur.execute("SET GLOBAL log_output = 'TABLE'")
        cur.execute("SET GLOBAL general_log = 1")
        try:
            yield counts
        finally:
            cur.execute("SET GLOBAL general_log = %s", (int(was_on),))
            cur.execute("SET GLOBAL log_output = %s", (output,))
            _read_general_log(cur, login, since, counts)


def _read_general_log(cur: Any, login: str, since: datetime, counts: StatementCounts) -> None:
    cur.execute(
        "SELECT thread_id, command_type, CONVERT(argument USING utf8mb4) FROM mysql.general_log"
        " WHERE event_time >= %s AND (user_host LIKE %s OR user_host LIKE %s) ORDER BY event_time",
        (since, f"{login}[%", f"[{login}]%"),  # a Connect row names the login only in brackets
    )
    database_of: dict[int, str] = {}
    connect = re.compile(r" on (\S*)")
    for thread, command, argument in cur.fetchall():
        if command == "Connect":
            found = connect.search(argument)
            database_of[thread] = found.group(1) if found else ""
        elif command == "Init DB":
            database_of[thread] = argument
        elif command == "Query":
            counts.by_database[database_of.get(thread, "")][kind_of(argument)] += 1
