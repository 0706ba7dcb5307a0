"""Idempotency keys of turn starts: which run a client's key started, per user.

A client sends a fresh key with each turn start (``Idempotency-Key`` on
``POST /v1/chat``, ``idempotency_key`` in the WebSocket ``chat`` frame) and the
same key again only when it retries that start. The server claims the key
before it starts the turn (:meth:`TurnKeys.claim`): the first claim wins and
starts the turn, then records its run id (:meth:`TurnKeys.started`); any later
claim of the same user's key finds the run and attaches to it instead of
starting a second one (server/turn_keys.py).

The table ``turn_keys`` sits in the sessions database (SQLite migration 9,
PostgreSQL migration 2), so replicas sharing PostgreSQL see each other's keys.
A claim is one transaction whose ``INSERT OR IGNORE`` decides the winner (the
primary key is ``(user_id, key)``); ``claim`` tells the winner's claim from
another's. Keys expire after :data:`EXPIRE` seconds.

A claim names its holder (the claim token is ``<holder>/<random>``, the holder
the server process's boot id, which is its replica id on PostgreSQL), so a
claim still without a run is taken over (:meth:`TurnKeys.take_over`) only once
the server found its holder gone (server/turn_keys.py), never after a timer: a
start slower than any timer must not let a repeat start a second turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from muxi_cli.stores.sqldialect import DbConn
from muxi_cli.stores.sqlite_tx import immediate

#: Seconds a key is remembered: a retry comes within seconds, a day is plenty.
EXPIRE = 24 * 3600.0
#: Seconds between prunes of expired keys.
PRUNE_EVERY = 600.0


def ddl(stamp: str) -> str:
    """The table, with ``stamp`` as the timestamps' type (SQLite ``TEXT``;
    PostgreSQL ``TEXT COLLATE "C"``, so ISO text compares as in SQLite)."""
    return f"""
CREATE TABLE turn_keys (
    user_id      TEXT NOT NULL,
    key          TEXT NOT NULL,
    claim        TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    run_id       TEXT,
    created_at   {stamp} NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX turn_keys_by_age ON turn_keys (created_at)
"""


def fingerprint(request: dict[str, Any]) -> str:
    """What a key's request was (a retry sends the same request; another one is refused)."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    """The key's row after a claim: ``won`` if this claim is the one that starts the turn."""

    won: bool
    token: str
    fingerprint: str
    #: The run the key started; None while its turn is starting.
    run_id: str | None

    @property
    def holder(self) -> str:
        """The server process that holds the claim ("" for a claim of an older muxi)."""
        holder, sep, _random = self.token.rpartition("/")
        return holder if sep else ""


def _stamp(seconds_ago: float = 0.0) -> str:
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")


class TurnKeys:
    """The ``turn_keys`` table of one sessions database (a file, or a PostgreSQL URL).

    Every call runs in a worker thread on one connection of its own (calls are
    few: one or two per turn start)."""

    def __init__(self, path: Path | str, expire: float = EXPIRE, claimant: str = "") -> None:
        self.path = path
        self.expire = expire
        #: Who this store's claims name as their holder (server/turn_keys.py: the boot id).
        self.claimant = claimant
        #: Claim token -> the run it began, for this holder's claims whose record has
        #: not reached the database yet (a repeat reaching this process sees it).
        self.began: dict[str, str] = {}
        self._conn: DbConn | None = None
        self._lock = threading.Lock()
        self._pruned = 0.0

    def _do(self, work: Any, *args: Any) -> Any:
        from muxi_cli.stores.run_events import _connect  # deferred: only servers use keys

        with self._lock:
            for attempt in (1, 2):
                if self._conn is None or getattr(self._conn, "broken", False):
                    self._conn = _connect(self.path)
                try:
                    return work(self._conn, *args)
                except Exception:
                    # A connection the database dropped: once more on a new one.
                    with contextlib.suppress(Exception):
                        self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def claim(self, user_id: str, key: str, print_: str) -> Claim:
        """Claim ``key`` for a new turn of ``user_id``, or find who holds it."""
        return await asyncio.to_thread(self._do, self._claim, user_id, key, print_)

    def _claim(self, conn: DbConn, user_id: str, key: str, print_: str) -> Claim:
        token = f"{self.claimant}/{secrets.token_hex(8)}"
        with immediate(conn):
            if time.monotonic() - self._pruned > PRUNE_EVERY:
                self._pruned = time.monotonic()
                conn.execute("DELETE FROM turn_keys WHERE created_at < ?", (_stamp(self.expire),))
            conn.execute(
                "DELETE FROM turn_keys WHERE user_id = ? AND key = ? AND created_at < ?",
                (user_id, key, _stamp(self.expire)),
            )
            conn.execute(
                "INSERT OR IGNORE INTO turn_keys"
                " (user_id, key, claim, fingerprint, run_id, created_at)"
                " VALUES (?, ?, ?, ?, NULL, ?)",
                (user_id, key, token, print_, _stamp()),
            )
            row = conn.execute(
                "SELECT claim, fingerprint, run_id FROM turn_keys WHERE user_id = ? AND key = ?",
                (user_id, key),
            ).fetchone()
        if row is None:  # pragma: no cover - the row was just written or found
            return Claim(False, "", print_, None)
        return Claim(str(row[0]) == token, str(row[0]), str(row[1]), row[2] and str(row[2]))

    async def holder(self, user_id: str, key: str) -> Claim | None:
        """The claim holding ``key`` now, read without a write lock (a repeat
        waiting for the start that holds it); None when no live claim does (it
        was given back or expired: then :meth:`claim` takes it)."""
        return await asyncio.to_thread(self._do, self._holder, user_id, key)

    def _holder(self, conn: DbConn, user_id: str, key: str) -> Claim | None:
        row = conn.execute(
            "SELECT claim, fingerprint, run_id FROM turn_keys WHERE user_id = ? AND key = ?"
            " AND created_at >= ?",
            (user_id, key, _stamp(self.expire)),
        ).fetchone()
        if row is None:
            return None
        return Claim(False, str(row[0]), str(row[1]), row[2] and str(row[2]))

    async def take_over(self, user_id: str, key: str, gone: str, print_: str) -> Claim | None:
        """Take the claim ``gone`` (its holder is gone, its turn never began) for a
        new start; the key's row as it is if another claim was quicker (None: none)."""
        return await asyncio.to_thread(self._do, self._take_over, user_id, key, gone, print_)

    def _take_over(
        self, conn: DbConn, user_id: str, key: str, gone: str, print_: str
    ) -> Claim | None:
        token = f"{self.claimant}/{secrets.token_hex(8)}"
        with immediate(conn):
            conn.execute(
                "UPDATE turn_keys SET claim = ?, fingerprint = ?, created_at = ?"
                " WHERE user_id = ? AND key = ? AND claim = ? AND run_id IS NULL",
                (token, print_, _stamp(), user_id, key, gone),
            )
            row = conn.execute(
                "SELECT claim, fingerprint, run_id FROM turn_keys WHERE user_id = ? AND key = ?",
                (user_id, key),
            ).fetchone()
        if row is None:
            return None
        return Claim(str(row[0]) == token, str(row[0]), str(row[1]), row[2] and str(row[2]))

    async def started(self, user_id: str, key: str, token: str, run_id: str) -> None:
        """The claim ``token`` started run ``run_id``."""
        await asyncio.to_thread(
            self._do,
            self._write,
            "UPDATE turn_keys SET run_id = ? WHERE user_id = ? AND key = ? AND claim = ?",
            (run_id, user_id, key, token),
        )

    async def release(self, user_id: str, key: str, token: str) -> None:
        """The claim ``token`` started nothing (refused, failed): a retry may start the turn."""
        await asyncio.to_thread(
            self._do,
            self._write,
            "DELETE FROM turn_keys WHERE user_id = ? AND key = ? AND claim = ?",
            (user_id, key, token),
        )

    @staticmethod
    def _write(conn: DbConn, sql: str, args: tuple[object, ...]) -> None:
        with immediate(conn):
            conn.execute(sql, args)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
