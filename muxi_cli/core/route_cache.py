"""The route cache: routing decisions kept so a repeated message skips the router model.

Bounded and TTL'd, in memory, behind which a store shares the decisions: a
small SQLite file here (one-shot CLI runs share it), or the shared PostgreSQL
table of a server's replicas (core/route_cache_pg.py overrides the four
storage methods only). Keys include the agent set's fingerprint, so changing
the formation's agents invalidates old decisions. A store that fails costs a
warning and a routing decision, never a turn.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path

from muxi_cli.stores.sqlite_tx import use_wal

log = logging.getLogger("muxi.router")

#: (when it was decided, agent, reason)
Entry = tuple[float, str, str]


def normalise(message: str) -> str:
    text = re.sub(r"[^\w\s]", " ", message.lower())
    return " ".join(text.split())


class RouteCache:
    """A bounded, TTL'd map of routing decisions, optionally backed by a SQLite file."""

    def __init__(self, ttl: float, size: int, path: Path | None = None) -> None:
        self.ttl = ttl
        self.size = max(1, size)
        self.path = path
        self._mem: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(message: str, previous_agent: str | None, fingerprint: str) -> str:
        raw = f"{fingerprint}\x00{previous_agent or ''}\x00{normalise(message)}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(self, key: str) -> tuple[str, str] | None:
        now = time.time()
        with self._lock:
            hit = self._mem.get(key)
            if hit is None:
                hit = self._load(key)
                if hit is not None:
                    self._mem[key] = hit
            if hit is None or now - hit[0] > self.ttl:
                if hit is not None:
                    self._mem.pop(key, None)
                    self._forget(key)
                self.misses += 1
                return None
            self._mem.move_to_end(key)
            self.hits += 1
            return hit[1], hit[2]

    def put(self, key: str, agent: str, reason: str) -> None:
        entry = (time.time(), agent, reason)
        with self._lock:
            self._mem[key] = entry
            self._mem.move_to_end(key)
            while len(self._mem) > self.size:
                old, _ = self._mem.popitem(last=False)
                self._evicted(old)
            self._save(key, entry)

    def clear(self) -> None:
        with self._lock:
            self._mem.clear()
            self._forget_all()

    def __len__(self) -> int:
        return len(self._mem)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- the store behind the memory (a SQLite file; see route_cache_pg.py) -------

    def _conn(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, timeout=2, check_same_thread=False)
                # A cache: losing the last write in a power cut is fine, a disk flush
                # on every routing decision is not.
                use_wal(self._db, timeout=2.0)
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS routes (key TEXT PRIMARY KEY, at REAL, "
                    "agent TEXT, reason TEXT)"
                )
                self._db.commit()
            except sqlite3.Error as exc:
                log.warning("route cache disabled: %s", exc)
                self.path = None
                return None
        return self._db

    def _load(self, key: str) -> Entry | None:
        if (db := self._conn()) is None:
            return None
        try:
            row = db.execute(
                "SELECT at, agent, reason FROM routes WHERE key = ?", (key,)
            ).fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else (float(row[0]), str(row[1]), str(row[2]))

    def _save(self, key: str, entry: Entry) -> None:
        """Store ``entry``; the oldest rows beyond ``size`` go."""
        if (db := self._conn()) is None:
            return
        try:
            db.execute("INSERT OR REPLACE INTO routes VALUES (?, ?, ?, ?)", (key, *entry))
            count = db.execute("SELECT COUNT(*) FROM routes").fetchone()[0]
            if count > self.size:
                db.execute(
                    "DELETE FROM routes WHERE key IN (SELECT key FROM routes "
                    "ORDER BY at ASC LIMIT ?)",
                    (count - self.size,),
                )
            db.commit()
        except sqlite3.Error as exc:
            log.warning("route cache write failed: %s", exc)

    def _forget(self, key: str) -> None:
        self._run("DELETE FROM routes WHERE key = ?", (key,))

    def _evicted(self, key: str) -> None:
        """``key`` left the memory for room: the file is this machine's, it goes too."""
        self._forget(key)

    def _forget_all(self) -> None:
        self._run("DELETE FROM routes", ())

    def _run(self, sql: str, params: tuple[object, ...]) -> None:
        if (db := self._conn()) is not None:
            try:
                db.execute(sql, params)
                db.commit()
            except sqlite3.Error:
                pass
