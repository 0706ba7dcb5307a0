"""Opening a new SQLite file while another process is creating it.

Switching a database to WAL needs the file to itself, and SQLite fails the
switch at once, without its busy handler, while another connection holds the
write lock. Eight cold ``muxi chat`` runs sharing a new data folder hit it: one
of them stopped with "database is locked". Here a second connection holds the
write lock of a new file for a moment, as the process creating it would, and
every store muxi opens on such a file must wait for it instead of failing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from muxi_cli.core.route_cache import RouteCache
from muxi_cli.stores import runs
from muxi_cli.stores.media_index import MediaIndex
from muxi_cli.stores.memory_catalog import MemoryCatalog
from muxi_cli.stores.sessions import SessionStore
from muxi_cli.stores.sqlite_tx import use_wal

HOLD = 0.3


def _hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Hold ``BEGIN IMMEDIATE`` on a new rollback-journal file for ``seconds``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE IF NOT EXISTS creating (x INTEGER)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO creating VALUES (1)")

    def release() -> None:
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data" / "sessions.db"
    thread = _hold_write_lock(path, HOLD)
    yield path
    thread.join(timeout=10)


def _journal_mode(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def test_the_switch_fails_at_once_without_a_retry(held: Path) -> None:
    # The fault itself, so the tests below prove something: no busy handler.
    conn = sqlite3.connect(held, isolation_level=None, timeout=5)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        conn.execute("PRAGMA journal_mode = WAL")
    assert time.monotonic() - started < HOLD
    conn.close()


def test_session_store_waits_for_the_creator(held: Path) -> None:
    store = SessionStore(held)
    try:
        assert store.list_sessions() == []
    finally:
        store.close()
    assert _journal_mode(held) == "wal"


def test_run_recorder_connection_waits_for_the_creator(held: Path) -> None:
    conn = runs.connect(held)
    conn.close()
    assert _journal_mode(held) == "wal"


def test_media_index_waits_for_the_creator(tmp_path: Path) -> None:
    path = tmp_path / "media" / "index.db"
    thread = _hold_write_lock(path, HOLD)
    index = MediaIndex(path)
    try:
        with index.read(create=True):
            pass
    finally:
        index.close()
        thread.join(timeout=10)
    assert _journal_mode(path) == "wal"


def test_memory_catalog_waits_for_the_creator(tmp_path: Path) -> None:
    catalog = MemoryCatalog(str(tmp_path / "memory"))
    thread = _hold_write_lock(catalog.path, HOLD)
    try:
        assert catalog.state_get("s1") is None
    finally:
        catalog.close()
        thread.join(timeout=10)
    assert _journal_mode(catalog.path) == "wal"


def test_route_cache_file_waits_for_the_creator(tmp_path: Path) -> None:
    path = tmp_path / "routes.db"
    thread = _hold_write_lock(path, HOLD)
    cache = RouteCache(ttl=60, size=8, path=path)
    try:
        cache.put("k", "agent", "why")
        assert cache.path == path, "the route cache gave up its file"
    finally:
        thread.join(timeout=10)
    assert _journal_mode(path) == "wal"


def test_use_wal_gives_up_after_its_timeout(held: Path) -> None:
    conn = sqlite3.connect(held, isolation_level=None)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(conn, timeout=0.05)
    assert time.monotonic() - started < HOLD
    conn.close()
