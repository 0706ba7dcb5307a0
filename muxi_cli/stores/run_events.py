"""The per-run event log: every event of a turn a server runs, numbered, for resuming.

A server records each event of a turn as it streams it (server/tape.py) under
the run id and a sequence number from 1 (the SSE ``id``); a client that lost
its stream asks for the events after the last number it saw
(``GET /v1/runs/{id}/events``) and follows the run to its end, from this
process or from another replica sharing the database.

:class:`EventLog` is the interface; :class:`SQLiteEventLog` keeps the log in
the sessions database (tables ``run_streams`` and ``run_events``, migration 8
in stores/session_schema.py). Writes never block the event loop: they are
queued and one thread writes them in batches, waiting up to ``linger``
seconds for more, so a streaming turn pays one commit per batch of tokens,
not one per token; a run's closing event is written without lingering.
Runs that ended more than ``keep`` seconds ago are pruned now and then.

Given a PostgreSQL URL instead of a file, the same class keeps the log in the
database a server's replicas share (stores/pgsql.py reads its SQL, SQLite's
``INSERT OR ...`` included), so a stream resumes on any replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from muxi_cli import paths
from muxi_cli.stores.session_schema import migrate
from muxi_cli.stores.sqldialect import DbConn
from muxi_cli.stores.sqlite_tx import immediate, use_wal

log = logging.getLogger("muxi.server")

#: Seconds a finished run's events stay in the log (a client resumes within seconds).
KEEP = 3600.0
#: Seconds between prunes of finished runs.
PRUNE_EVERY = 600.0


@dataclass(frozen=True, slots=True)
class RunStream:
    """What the log knows of one run: its owner, and whether its closing event is in."""

    run_id: str
    user_id: str
    session_id: str
    replica: str
    done: bool
    #: Seconds since its replica last said the run goes on (its start, or a beat).
    silent_for: float = 0.0


class EventLog(Protocol):
    """Where a server records its turns' events (one writer per run: its replica)."""

    def open_run(self, run_id: str, user_id: str, session_id: str, replica: str) -> None:
        """Record a new run and its owner (queued: never blocks)."""

    def append(self, run_id: str, seq: int, event: str, terminal: bool) -> None:
        """Record the run's event number ``seq`` (its JSON); ``terminal`` marks the
        run done (queued: never blocks)."""

    def beat(self, run_ids: list[str]) -> None:
        """These runs still run here (queued: never blocks); a run whose beats stop
        while it is not done lost its replica."""

    async def run(self, run_id: str) -> RunStream | None:
        """The run, or None if the log has no such run."""

    async def read(self, run_id: str, after: int, limit: int = 500) -> list[tuple[int, str]]:
        """Up to ``limit`` events of the run numbered above ``after``, in order."""

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""

    async def aclose(self) -> None:
        """Write what is queued and release the database."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_Item = tuple[str, tuple[object, ...]]
_STOP = ("stop", ())


class SQLiteEventLog:
    """:class:`EventLog` in the sessions database (see the module doc)."""

    def __init__(
        self,
        path: Path | str,
        *,
        linger: float = 0.05,
        keep: float = KEEP,
        prune_every: float = PRUNE_EVERY,
    ) -> None:
        self.path = path
        self.linger = linger
        self.keep = keep
        self.prune_every = prune_every
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._reader: DbConn | None = None

    # -- writes (queued) ---------------------------------------------------------------

    def open_run(self, run_id: str, user_id: str, session_id: str, replica: str) -> None:
        now = _now()
        self._put(("open", (run_id, user_id, session_id, replica, now, now)))

    def append(self, run_id: str, seq: int, event: str, terminal: bool) -> None:
        self._put(("done" if terminal else "event", (run_id, seq, event, _now())))

    def beat(self, run_ids: list[str]) -> None:
        now = _now()
        for run_id in run_ids:
            self._put(("beat", (now, run_id)))

    def _put(self, item: _Item) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._work, name="muxi-event-log", daemon=True
                    )
                    self._thread.start()
        self._queue.put(item)

    async def flush(self) -> None:
        if self._thread is not None:
            await asyncio.to_thread(self._queue.join)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Write what is queued, stop the writer, close the reader (blocking)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _work(self) -> None:
        conn: DbConn | None = None
        last_prune = 0.0
        while True:
            batch = [self._queue.get()]
            stop = batch[0] is _STOP
            deadline = time.monotonic() + self.linger
            # More of the same stream arrives within milliseconds: one commit for all.
            while not stop and batch[-1][0] != "done":
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                batch.append(item)
                stop = item is _STOP
            try:
                rows = [item for item in batch if item is not _STOP]
                for attempt in (1, 2):
                    try:
                        if rows:
                            conn = conn or _connect(self.path)
                            _write(conn, rows)
                        break
                    except Exception:
                        # A connection the database dropped (a restart, a proxy): the
                        # batch (one transaction, rolled back) goes again on a new one.
                        if conn is not None:
                            with contextlib.suppress(Exception):
                                conn.close()
                        conn = None
                        if attempt == 2:
                            raise
                if conn is not None and time.monotonic() - last_prune > self.prune_every:
                    last_prune = time.monotonic()
                    _prune(conn, self.keep)
            except Exception:
                log.exception("recording %d run event(s) failed", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
            if stop:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                return

    # -- reads -------------------------------------------------------------------------

    def _query(self, sql: str, args: tuple[object, ...]) -> list[Any]:
        """The rows of one read (once more on a new connection if the database
        dropped the one it had)."""
        with self._read_lock:
            for attempt in (1, 2):
                if self._reader is None or getattr(self._reader, "broken", False):
                    self._reader = _connect(self.path)
                try:
                    return list(self._reader.execute(sql, args).fetchall())
                except Exception:
                    with contextlib.suppress(Exception):
                        self._reader.close()
                    self._reader = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _run(self, run_id: str) -> RunStream | None:
        rows = self._query(
            "SELECT user_id, session_id, replica, done_at, beat_at FROM run_streams"
            " WHERE run_id = ?",
            (run_id,),
        )
        row = rows[0] if rows else None
        if row is None:
            return None
        beat = datetime.fromisoformat(str(row[4]).replace("Z", "+00:00"))
        silent = max(0.0, (datetime.now(UTC) - beat).total_seconds())
        return RunStream(run_id, str(row[0]), str(row[1]), str(row[2]), row[3] is not None, silent)

    def _read(self, run_id: str, after: int, limit: int) -> list[tuple[int, str]]:
        rows = self._query(
            "SELECT seq, event FROM run_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, after, limit),
        )
        return [(int(seq), str(event)) for seq, event in rows]

    async def run(self, run_id: str) -> RunStream | None:
        return await asyncio.to_thread(self._run, run_id)

    async def read(self, run_id: str, after: int, limit: int = 500) -> list[tuple[int, str]]:
        return await asyncio.to_thread(self._read, run_id, after, limit)


def _connect(path: Path | str) -> DbConn:
    if isinstance(path, str):  # the PostgreSQL database replicas share (stores/pgsql.py)
        from muxi_cli.stores.runs import connect  # deferred: only servers sharing one

        return connect(path)
    paths.ensure_dir(path.parent)
    if not path.exists():  # private like the sessions it sits beside (SessionStore._open)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA busy_timeout = 10000")
    use_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    migrate(conn, path)
    return conn


def _write(conn: DbConn, items: list[_Item]) -> None:
    opened = [args for kind, args in items if kind == "open"]
    events = [args for kind, args in items if kind in ("event", "done")]
    done = [(args[3], args[0]) for kind, args in items if kind == "done"]
    beats = [args for kind, args in items if kind == "beat"]
    with immediate(conn):
        conn.executemany(
            "INSERT OR IGNORE INTO run_streams"
            " (run_id, user_id, session_id, replica, started_at, beat_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            opened,
        )
        conn.executemany("UPDATE run_streams SET beat_at = ? WHERE run_id = ?", beats)
        conn.executemany("INSERT OR REPLACE INTO run_events VALUES (?, ?, ?, ?)", events)
        conn.executemany("UPDATE run_streams SET done_at = ? WHERE run_id = ?", done)


def _prune(conn: DbConn, keep: float) -> None:
    """Forget runs that ended ``keep`` s ago, and runs left unfinished for a day
    (their replica died; nobody resumes them any more)."""
    now = datetime.now(UTC)
    ended = (now - timedelta(seconds=keep)).isoformat(timespec="microseconds")
    stale = (now - timedelta(days=1)).isoformat(timespec="microseconds")
    ended, stale = (t.replace("+00:00", "Z") for t in (ended, stale))
    where = "(done_at IS NOT NULL AND done_at < ?) OR (done_at IS NULL AND started_at < ?)"
    with immediate(conn):
        conn.execute(
            f"DELETE FROM run_events WHERE run_id IN (SELECT run_id FROM run_streams WHERE {where})",
            (ended, stale),
        )
        conn.execute(f"DELETE FROM run_streams WHERE {where}", (ended, stale))
