"""What the memory store holds, known without importing LanceDB; and session memory state.

A one-shot ``muxi chat`` for a user with no memories should not pay for LanceDB
(about 0.5 s to import and open) and the embedding model (0.3 s). This SQLite
file, ``<store>/.muxi/catalog.sqlite`` for a local store, keeps:

- ``counts``: rows per ``(memories, user, kind)`` and ``(chunks, agent)``, and a
  copy of the store's ``meta`` table (long-term switches, added knowledge);
- ``tables``: for each of those LanceDB tables, the fingerprint of its state
  when the counts were last right: the ``mtime_ns``, entry count and names of
  its ``_versions`` folder, which every LanceDB commit (and every cleanup of old
  versions) changes. The counts are trusted only while every fingerprint still
  matches; otherwise (another program wrote, a process died between its LanceDB
  commit and its catalog update) the store recounts from LanceDB
  (:meth:`~muxi_cli.stores.lance_store.LanceStore.sync_catalog`);
- ``session_state``: each session's running summary and extraction mark, read
  and written on every turn; they were a LanceDB table before (migrated on the
  first open, :mod:`muxi_cli.stores.lance_store`).

Every write muxi makes to a tracked table runs under this table's lock
(:meth:`MemoryCatalog.locked`: ``flock`` on ``<store>/.muxi/<table>.lock``), so a
muxi writer's commit and its catalog update are one step for every other muxi
process. A store at a URI (``s3://...``) has no folder to fingerprint: its counts
are never trusted (LanceDB is opened as before), and its catalog file lives in
the data folder only for the session state.

``tests/memory/test_catalog.py`` fails if a LanceDB upgrade changes the folder
layout the fingerprint relies on.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muxi_cli import paths
from muxi_cli.stores.sqlite_tx import immediate, use_wal

#: The LanceDB tables whose contents the catalog mirrors.
TRACKED = ("memories", "chunks", "meta")
#: The fingerprint of a table that does not exist (yet).
ABSENT = "absent"
#: Seconds between two tries for a table lock another process holds.
LOCK_POLL = 0.005

#: Seconds a writer waits for a table lock before it writes without (see ``locked``).
LOCK_WAIT = 10.0

Counts = dict[tuple[str, str], int]
#: What one write changes: row counts, or (for ``meta``) the values it sets.
Changes = Counts | dict[str, str]

SCHEMA = """
CREATE TABLE IF NOT EXISTS tables (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counts (
    tbl TEXT NOT NULL, owner TEXT NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (tbl, owner, kind));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS session_state (
    session_id TEXT PRIMARY KEY, user_id TEXT, agent TEXT, summary TEXT,
    covered INTEGER NOT NULL DEFAULT 0, covered_hash TEXT NOT NULL DEFAULT '',
    extracted_upto INTEGER NOT NULL DEFAULT 0, updated_at REAL);
CREATE INDEX IF NOT EXISTS session_state_user ON session_state (user_id);
"""
STATE_COLUMNS = (
    "session_id", "user_id", "agent", "summary", "covered", "covered_hash", "extracted_upto",
    "updated_at",
)  # fmt: skip


def is_local_uri(uri: str) -> bool:
    return "://" not in uri


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The store's contents as the catalog knows them (trusted when returned)."""

    memories: Counts = field(default_factory=dict)
    chunks: dict[str, int] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    def memory_count(self, user_id: str, kinds: tuple[str, ...] | None = None) -> int:
        return sum(
            n
            for (owner, kind), n in self.memories.items()
            if owner == user_id and (kinds is None or kind in kinds)
        )


class MemoryCatalog:
    """See the module docstring. Nothing touches the disk until a method needs it."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.local = is_local_uri(uri)
        if self.local:
            self.root: Path | None = Path(uri)
            self.dir = Path(uri) / ".muxi"
        else:
            self.root = None
            digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
            self.dir = paths.memory_dir() / ".catalogs" / digest
        self.path = self.dir / "catalog.sqlite"
        self._conn: sqlite3.Connection | None = None
        self._conn_lock = threading.RLock()

    # ------------------------------------------------------------------ the database

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        # One connection per catalog, kept open: closing a WAL database's last
        # connection checkpoints it (with fsyncs), which cost every write 10 ms.
        with self._conn_lock:
            if self._conn is None:
                self.dir.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=30.0, isolation_level=None, check_same_thread=False
                )
                conn.row_factory = sqlite3.Row
                use_wal(conn, timeout=30.0)
                # Everything here but the session states can be recounted; no fsync per write.
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(SCHEMA)
                self._conn = conn
            yield self._conn

    def close(self) -> None:
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._db() as conn, immediate(conn):
            yield conn

    # ------------------------------------------------------------------ fingerprints

    def fingerprint(self, table: str) -> str | None:
        """The state of ``table``'s commits on disk; None for a store at a URI."""
        if self.root is None:
            return None
        versions = self.root / f"{table}.lance" / "_versions"
        try:
            stamp = versions.stat().st_mtime_ns
            names = sorted(os.listdir(versions))
        except FileNotFoundError:
            return ABSENT
        digest = hashlib.blake2b("\n".join(names).encode(), digest_size=8).hexdigest()
        return f"{stamp}:{len(names)}:{digest}"

    def recorded(self, conn: sqlite3.Connection) -> dict[str, str]:
        rows = conn.execute("SELECT name, fingerprint FROM tables").fetchall()
        return {str(r["name"]): str(r["fingerprint"]) for r in rows}

    def is_current(self, table: str) -> bool:
        actual = self.fingerprint(table)
        if actual is None:
            return False
        if not self.path.exists():
            return actual == ABSENT
        with self._db() as conn:
            return self.recorded(conn).get(table, ABSENT) == actual

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> Snapshot | None:
        """The counts and meta, or None when they cannot be trusted (recount first)."""
        if self.root is None:
            return None
        if not self.path.exists():
            # No catalog yet: trusted only when there is no table to count either.
            if all(self.fingerprint(t) == ABSENT for t in TRACKED):
                return Snapshot()
            return None
        with self._db() as conn:
            conn.execute("BEGIN")  # one consistent read
            recorded = self.recorded(conn)
            counts = conn.execute("SELECT tbl, owner, kind, n FROM counts WHERE n > 0").fetchall()
            meta = conn.execute("SELECT key, value FROM meta").fetchall()
            conn.execute("COMMIT")
        # Compared after reading: a commit that lands meanwhile makes the next read recount.
        if any(recorded.get(t, ABSENT) != self.fingerprint(t) for t in TRACKED):
            return None
        memories: Counts = {}
        chunks: dict[str, int] = {}
        for row in counts:
            if row["tbl"] == "memories":
                memories[(str(row["owner"]), str(row["kind"]))] = int(row["n"])
            else:
                chunks[str(row["owner"])] = int(row["n"])
        return Snapshot(memories, chunks, {str(r["key"]): str(r["value"]) for r in meta})

    # ------------------------------------------------------------------ writing

    @contextlib.asynccontextmanager
    async def locked(self, table: str, wait: float | None = None) -> AsyncIterator[bool]:
        """Hold ``table``'s write lock (across processes) for a commit and its catalog
        update; yields whether it is held.

        A holder that hangs (a stopped process) must not stop every other writer:
        after ``wait`` seconds the writer goes on without the lock, having made the
        table's catalog entry stale first (the caller does), and the holder's own
        update then finds the entry changed (:meth:`apply`) and recounts.
        """
        if self.root is None:
            yield False
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / f"{table}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + (LOCK_WAIT if wait is None else wait)
            held = False
            while not held:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    # Another writer's commit takes milliseconds; never block the event loop.
                    await asyncio.sleep(LOCK_POLL)
            yield held
        finally:
            os.close(fd)  # releases the lock

    def apply(self, table: str, changes: Changes, before: str | None, after: str | None) -> bool:
        """Apply one write's changes if the entry still says ``before`` (the table's
        fingerprint before the write), recording ``after``; False: recount instead."""
        with self._write() as conn:
            if self.recorded(conn).get(table, ABSENT) != before:
                return False
            if table == "meta":
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [(str(k), str(v)) for k, v in changes.items()],
                )
            else:
                for key, n in changes.items():
                    owner, kind = key if isinstance(key, tuple) else (key, "")
                    conn.execute(
                        "INSERT INTO counts (tbl, owner, kind, n) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (tbl, owner, kind) DO UPDATE SET n = MAX(0, n + excluded.n)",
                        (table, owner, kind, int(n)),
                    )
            self._record(conn, table, after)
        return True

    def invalidate(self, table: str) -> None:
        """Make ``table``'s entry stale: the next reader recounts."""
        if self.root is not None:
            with self._write() as conn:
                self._record(conn, table, "")

    def replace(
        self, table: str, fingerprint: str | None, *, counts: Counts | None = None,
        meta: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        """Replace what is known of ``table`` by a recount."""
        with self._write() as conn:
            if table == "meta":
                conn.execute("DELETE FROM meta")
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)", (meta or {}).items()
                )
            else:
                conn.execute("DELETE FROM counts WHERE tbl = ?", (table,))
                conn.executemany(
                    "INSERT INTO counts (tbl, owner, kind, n) VALUES (?, ?, ?, ?)",
                    [(table, owner, kind, n) for (owner, kind), n in (counts or {}).items()],
                )
            self._record(conn, table, fingerprint)

    def _record(self, conn: sqlite3.Connection, table: str, fingerprint: str | None) -> None:
        conn.execute(
            "INSERT INTO tables (name, fingerprint) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint",
            (table, fingerprint or ""),
        )

    # ------------------------------------------------------------------ session state

    def state_get(self, session_id: str) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        with self._db() as conn:
            row = conn.execute(
                "SELECT * FROM session_state WHERE session_id = ?", (session_id,)
            ).fetchone()
        return dict(row) if row is not None else None

    def state_put(self, session_id: str, values: dict[str, Any]) -> None:
        unknown = set(values) - set(STATE_COLUMNS)
        if unknown:
            raise ValueError(f"no session state column(s) {sorted(unknown)}")
        with self._write() as conn:
            row = conn.execute(
                "SELECT * FROM session_state WHERE session_id = ?", (session_id,)
            ).fetchone()
            current = dict(row) if row is not None else {"session_id": session_id}
            current.update(values, updated_at=time.time())
            names = [c for c in STATE_COLUMNS if c in current]
            conn.execute(
                f"INSERT OR REPLACE INTO session_state ({', '.join(names)}) "
                f"VALUES ({', '.join('?' for _ in names)})",
                [current[c] for c in names],
            )

    def state_delete(self, *, session_id: str | None = None, user_id: str | None = None) -> int:
        if not self.path.exists():
            return 0
        column, value = (
            ("session_id", session_id) if session_id is not None else ("user_id", user_id)
        )
        with self._write() as conn:
            return conn.execute(f"DELETE FROM session_state WHERE {column} = ?", (value,)).rowcount

    def import_states(self, rows: list[dict[str, Any]]) -> int:
        """Session states of the old LanceDB table; a state already here is newer and stays."""
        with self._write() as conn:
            added = 0
            for row in rows:
                values = [row.get(c) for c in STATE_COLUMNS]
                values[4] = int(values[4] or 0)  # covered
                values[5] = values[5] or ""  # covered_hash
                values[6] = int(values[6] or 0)  # extracted_upto
                added += conn.execute(
                    f"INSERT OR IGNORE INTO session_state ({', '.join(STATE_COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in STATE_COLUMNS)})",
                    values,
                ).rowcount
        return added


class SessionState:
    """Per-session running summary and extraction progress (see the module docstring)."""

    def __init__(self, catalog: MemoryCatalog) -> None:
        self.catalog = catalog

    async def get(self, session_id: str) -> dict[str, Any] | None:
        return self.catalog.state_get(session_id)

    async def put(self, session_id: str, **values: Any) -> None:
        self.catalog.state_put(session_id, values)

    async def delete(self, session_id: str) -> int:
        return self.catalog.state_delete(session_id=session_id)

    async def delete_user(self, user_id: str) -> int:
        """Drop the summaries of every session ``user_id`` had."""
        return self.catalog.state_delete(user_id=user_id)
