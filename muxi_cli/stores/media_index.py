"""The media store's index: who owns which stored file, its type, name and
meta, and which derived forms exist, in a small SQLite file (``index.db``
in the store's folder, mode 0600, WAL).

``blobs`` has one row per stored content (its sha256 and size); ``media``
one row per owner holding it (the same bytes uploaded by two users are one
blob and two rows, and each user's quota counts them); ``derived`` names the
derived forms of a blob; ``texts`` keeps the ``text`` form again so session
search can match it without reading objects.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from muxi_cli import paths
from muxi_cli.errors import MuxiError
from muxi_cli.protocol.messages import MediaRef
from muxi_cli.stores.sqlite_tx import immediate, use_wal

INDEX_VERSION = 1

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS blobs (
        id TEXT PRIMARY KEY, size INTEGER NOT NULL, created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS media (
        owner TEXT NOT NULL, id TEXT NOT NULL REFERENCES blobs (id),
        media_type TEXT NOT NULL, name TEXT, meta TEXT, size INTEGER NOT NULL,
        created_at TEXT NOT NULL, PRIMARY KEY (owner, id))""",
    "CREATE INDEX IF NOT EXISTS media_by_id ON media (id)",
    """CREATE TABLE IF NOT EXISTS derived (
        id TEXT NOT NULL REFERENCES blobs (id), key TEXT NOT NULL, size INTEGER NOT NULL,
        created_at TEXT NOT NULL, PRIMARY KEY (id, key))""",
    "CREATE TABLE IF NOT EXISTS texts (id TEXT PRIMARY KEY REFERENCES blobs (id), text TEXT)",
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def ref_from_row(row: sqlite3.Row) -> MediaRef:
    try:
        meta = json.loads(row["meta"]) if row["meta"] else {}
    except ValueError:
        meta = {}
    return MediaRef.from_dict(
        {
            "id": row["id"],
            "media_type": row["media_type"],
            "size": row["size"],
            "name": row["name"],
            "meta": meta,
        }
    )


class MediaIndex:
    """One connection behind a lock; several processes may share the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        paths.ensure_dir(self.path.parent)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = sqlite3.connect(
            str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            use_wal(conn, timeout=30.0)
            conn.execute("PRAGMA synchronous = NORMAL")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > INDEX_VERSION:
                raise MuxiError(
                    f"The media index {self.path} was written by a newer muxi (version {version}).",
                    hint="Upgrade muxi, or set MUXI_HOME to use another data folder.",
                )
            if version < INDEX_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {INDEX_VERSION}")
                conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return conn

    def _error(self, exc: sqlite3.Error) -> MuxiError:
        return MuxiError(
            f"The media index {self.path} could not be used: {exc}.",
            hint="Check the folder's permissions and free disk space.",
        )

    @contextlib.contextmanager
    def read(self, create: bool = False) -> Iterator[sqlite3.Connection]:
        """The index; before its file exists (and unless ``create``) an empty
        one in memory, so reading a new store creates nothing on disk."""
        with self._lock:
            try:
                if self._db is None and not create and not self.path.exists():
                    empty = sqlite3.connect(":memory:")
                    try:
                        empty.row_factory = sqlite3.Row
                        for statement in _SCHEMA:
                            empty.execute(statement)
                        yield empty
                    finally:
                        empty.close()
                    return
                if self._db is None:
                    self._db = self._open()
                yield self._db
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction; other writers (threads, processes) wait for it."""
        with self.read(create=True) as conn, immediate(conn):
            yield conn

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


# -- queries (each takes the connection of an open read or write) ---------------


def owned(conn: sqlite3.Connection, owner: str, media_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM media WHERE owner = ? AND id = ?", (owner, media_id)
    ).fetchone()
    return row


def has_blob(conn: sqlite3.Connection, media_id: str) -> bool:
    return conn.execute("SELECT 1 FROM blobs WHERE id = ?", (media_id,)).fetchone() is not None


def usage(conn: sqlite3.Connection, owner: str) -> int:
    row = conn.execute("SELECT COALESCE(SUM(size), 0) FROM media WHERE owner = ?", (owner,))
    return int(row.fetchone()[0])


def add(conn: sqlite3.Connection, owner: str, ref: MediaRef) -> None:
    stamp = now()
    conn.execute(
        "INSERT OR IGNORE INTO blobs (id, size, created_at) VALUES (?, ?, ?)",
        (ref.id, ref.size, stamp),
    )
    conn.execute(
        "INSERT INTO media (owner, id, media_type, name, meta, size, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (owner, ref.id, ref.media_type, ref.name, json.dumps(ref.meta) if ref.meta else None,
         ref.size, stamp),
    )  # fmt: skip


def remove(conn: sqlite3.Connection, owner: str, media_id: str) -> bool:
    """Drop ``owner``'s row; True when no owner holds the blob any more (the
    caller then deletes the bytes and :func:`drop_blob`)."""
    conn.execute("DELETE FROM media WHERE owner = ? AND id = ?", (owner, media_id))
    left = conn.execute("SELECT 1 FROM media WHERE id = ? LIMIT 1", (media_id,)).fetchone()
    return left is None


def derived_keys(conn: sqlite3.Connection, media_id: str) -> list[str]:
    rows = conn.execute("SELECT key FROM derived WHERE id = ? ORDER BY key", (media_id,))
    return [str(r["key"]) for r in rows.fetchall()]


def has_derived(conn: sqlite3.Connection, media_id: str, key: str) -> bool:
    row = conn.execute("SELECT 1 FROM derived WHERE id = ? AND key = ?", (media_id, key))
    return row.fetchone() is not None


def drop_blob(conn: sqlite3.Connection, media_id: str) -> None:
    for table in ("texts", "derived", "blobs"):
        conn.execute(f"DELETE FROM {table} WHERE id = ?", (media_id,))


def put_derived(
    conn: sqlite3.Connection, media_id: str, key: str, size: int, text: str | None
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO derived (id, key, size, created_at) VALUES (?, ?, ?, ?)",
        (media_id, key, size, now()),
    )
    if text is not None:
        # Lower-cased here and in the pattern: SQLite's LIKE folds ASCII only.
        conn.execute(
            "INSERT OR REPLACE INTO texts (id, text) VALUES (?, ?)", (media_id, text.lower())
        )


def listing(conn: sqlite3.Connection, owner: str) -> list[MediaRef]:
    rows = conn.execute(
        "SELECT * FROM media WHERE owner = ? ORDER BY created_at, rowid", (owner,)
    ).fetchall()
    return [ref_from_row(r) for r in rows]


def text_matches(conn: sqlite3.Connection, like: str, owner: str | None) -> list[str]:
    """Ids whose derived text matches the ``LIKE`` pattern (of ``owner``'s media, or anyone's)."""
    sql = "SELECT t.id FROM texts t WHERE t.text LIKE ? ESCAPE '\\'"
    args: list[str] = [like.lower()]
    if owner is not None:
        sql += " AND t.id IN (SELECT id FROM media WHERE owner = ?)"
        args.append(owner)
    return [str(r["id"]) for r in conn.execute(sql, args).fetchall()]
