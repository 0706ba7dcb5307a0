"""Writes finished runs (``runs``, ``run_tools``, ``run_recalls``) into the sessions database.

The recorder (runtime/recorder.py) hands each finished turn's rows to
:class:`RunWriter`, whose one thread writes them with its own connection in
one short transaction per batch: the event loop never waits for the disk.
The tables are created by migrations 6 and 7 (stores/session_schema.py).

The database is the SQLite file or, given a ``postgresql://`` URL, the
PostgreSQL database a server's replicas share (stores/pg_schema.py): the same
SQL (stores/sqldialect.py), several writers at once.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from muxi_cli.stores import run_rollup as rollup
from muxi_cli.stores.session_schema import migrate
from muxi_cli.stores.sqldialect import DbConn, dialect_of
from muxi_cli.stores.sqlite_tx import use_wal

#: The sessions database: a SQLite file, or a PostgreSQL URL.
Target = Path | str

log = logging.getLogger("muxi.runs")


@dataclass
class RunRow:
    run_id: str
    parent_run_id: str | None
    session_id: str
    user_id: str
    agent: str
    model: str
    status: str
    error_code: str | None
    started_at: str
    day: str
    first_token_ms: int | None
    duration_ms: int | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    route_method: str | None
    route_reason: str | None
    route_cached: int | None
    route_failure: str | None
    router_model: str | None
    recalls: int
    recall_top: float | None
    delegations: int


@dataclass
class ToolRow:
    run_id: str
    seq: int
    call_id: str
    tool: str
    server: str
    outcome: str
    approval_by: str | None
    decision: str | None
    duration_ms: int | None
    started_at: str
    user_id: str


@dataclass
class RecallRow:
    """One memory a turn recalled (``seq``: its place in the ``memory.recalled`` items)."""

    run_id: str
    seq: int
    session_id: str
    user_id: str
    agent: str
    memory_id: str
    kind: str
    score: float | None
    started_at: str


_TABLES = (
    ("runs", RunRow, ("run_id",)),
    ("run_tools", ToolRow, ("run_id", "seq")),
    ("run_recalls", RecallRow, ("run_id", "seq")),
)

Batch = tuple[list[RunRow], list[ToolRow], list[RecallRow]]


def write_rows(
    conn: DbConn,
    runs: list[RunRow],
    tools: list[ToolRow],
    recalls: list[RecallRow] | None = None,
) -> None:
    """Insert one batch and add it to the rollups, in one transaction
    (``conn`` in autocommit mode). A run written twice (same id) would be
    counted twice in the rollups: the recorder writes each run once."""
    d = dialect_of(conn)
    run_sql, tool_sql, recall_sql = (
        d.upsert(table, [f.name for f in fields(row)], key) for table, row, key in _TABLES
    )
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(run_sql, [astuple(r) for r in runs])
        conn.executemany(tool_sql, [astuple(t) for t in tools])
        if recalls:
            conn.executemany(recall_sql, [astuple(r) for r in recalls])
        rollup.apply(conn, rollup.fold(runs, tools))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def is_url(target: Target) -> bool:
    """True if ``target`` names a PostgreSQL database (else it is a SQLite file)."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def connect(path: Target) -> DbConn:
    """A connection of its own to the sessions database, migrated."""
    if is_url(path):
        from muxi_cli.stores import pg_schema, pgsql  # deferred: the postgres part

        pg = pgsql.open_pg(str(path))
        try:
            pg_schema.migrate(pg)
        except BaseException:
            pg.close()
            raise
        return pg
    path = Path(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    use_wal(conn)
    migrate(conn, path)
    return conn


class RunWriter:
    """One daemon thread draining a queue of finished runs into the database."""

    def __init__(self, path: Target) -> None:
        self.path = path
        self._queue: queue.Queue[Batch | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(
        self, runs: list[RunRow], tools: list[ToolRow], recalls: list[RecallRow] | None = None
    ) -> None:
        """Queue one turn's rows; never blocks (the thread starts on first use)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._work, name="muxi-run-writer", daemon=True
                    )
                    self._thread.start()
        self._queue.put((runs, tools, recalls or []))

    def flush(self) -> None:
        """Wait until every queued run is written (blocking: call from a thread)."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        """Write what is queued, then stop the thread (blocking)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _write(self, conn: DbConn | None, batch: list[Batch]) -> DbConn:
        """Write ``batch``; on a connection the server dropped (PostgreSQL
        restarted, failed over), once more on a new one. The connection used."""
        rows = (
            [r for b in batch for r in b[0]],
            [t for b in batch for t in b[1]],
            [m for b in batch for m in b[2]],
        )
        conn = conn or connect(self.path)
        try:
            write_rows(conn, *rows)
        except Exception:
            if not getattr(conn, "broken", False):
                raise
            with contextlib.suppress(Exception):
                conn.close()
            conn = connect(self.path)
            write_rows(conn, *rows)
        return conn

    def _work(self) -> None:
        conn: DbConn | None = None
        while True:
            item = self._queue.get()
            batch: list[Batch] = []
            stop = item is None
            if item is not None:
                batch.append(item)
            # Whatever else is already queued goes into the same transaction.
            while not stop:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    batch.append(more)
            try:
                if batch:
                    conn = self._write(conn, batch)
            except Exception:
                log.exception("recording %d run batch(es) failed", len(batch))
                if conn is not None and getattr(conn, "broken", False):
                    conn = None  # the database went away: the next batch connects again
            finally:
                for _ in range(len(batch) + (1 if stop else 0)):
                    self._queue.task_done()
            if stop:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                return
