"""The sessions schema on PostgreSQL: replicas opening together migrate once, a
newer database is refused, search has its trigram index, and concurrent writers
from several stores (replicas) keep each session's message order."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from muxi_cli.errors import MuxiError
from muxi_cli.stores.pg_schema import PG_SCHEMA_VERSION, migrate
from muxi_cli.stores.pg_sessions import PgSessionStore
from muxi_cli.stores.pgsql import open_pg


def test_replicas_opening_together_migrate_once(pg_url: str) -> None:
    olds: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_one() -> None:
        conn = open_pg(pg_url)
        try:
            barrier.wait(timeout=10)
            olds.append(migrate(conn))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert sorted(olds) == [0, PG_SCHEMA_VERSION, PG_SCHEMA_VERSION, PG_SCHEMA_VERSION]
    conn = open_pg(pg_url)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (PG_SCHEMA_VERSION,)
        ]
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'messages_content_trgm'"
        ).fetchone()
        assert index is not None and "gin_trgm_ops" in index[0]
    finally:
        conn.close()


def test_a_newer_database_is_refused_and_left_alone(pg_url: str, tmp_path: Path) -> None:
    conn = open_pg(pg_url)
    try:
        migrate(conn)
        conn.execute("UPDATE schema_version SET version = ?", (PG_SCHEMA_VERSION + 1,))
    finally:
        conn.close()
    store = PgSessionStore(pg_url.replace("postgres@", "postgres:pw@"), data_path=tmp_path / "s.db")
    with pytest.raises(MuxiError, match="understands up to version") as exc:
        store.list_sessions()
    assert "newer muxi" in (exc.value.hint or "")
    assert "pw" not in exc.value.message  # the password stays out of messages
    store.close()


def test_replicas_adding_to_one_session_keep_its_order(pg_url: str, tmp_path: Path) -> None:
    stores = [PgSessionStore(pg_url, data_path=tmp_path / "s.db") for _ in range(4)]
    shared = stores[0].create_session("u1")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                stores[n].add_message(shared.id, "user", f"r{n}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert not errors
        msgs = stores[1].messages(shared.id)
        assert [m.seq for m in msgs] == list(range(1, 101))
        assert len({m.content for m in msgs}) == 100
    finally:
        for s in stores:
            s.close()


def test_postgresql_has_every_table_and_column_of_the_sqlite_file(
    pg_url: str, tmp_path: Path
) -> None:
    """A migration added to one engine's schema and not the other's fails here."""
    import sqlite3

    from muxi_cli.stores.session_schema import FTS_TABLE
    from muxi_cli.stores.sessions import SessionStore

    with SessionStore(tmp_path / "sessions.db") as lite:
        lite.list_sessions()
    db = sqlite3.connect(tmp_path / "sessions.db")
    try:
        names = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith(("sqlite_", FTS_TABLE))
        ]
        sqlite_cols = {t: {r[1] for r in db.execute(f"PRAGMA table_info({t})")} for t in names}
    finally:
        db.close()
    conn = open_pg(pg_url)
    try:
        migrate(conn)
        pg_cols: dict[str, set[str]] = {}
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        ).fetchall():
            pg_cols.setdefault(table, set()).add(column)
    finally:
        conn.close()
    for table, cols in sqlite_cols.items():
        extra = pg_cols.get(table, set()) - {"n"} - cols
        assert cols <= pg_cols.get(table, set()), table
        # run_streams.beat_at: the event log's beats (lane streams), ahead here.
        assert extra <= ({"beat_at"} if table == "run_streams" else set()), table
    # The event log's tables (lane streams: SQLite migration 8) may be ahead here.
    assert set(pg_cols) - set(sqlite_cols) <= {"run_streams", "run_events"}
