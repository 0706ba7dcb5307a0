"""The SQL the dialects write, and the PostgreSQL connection's translation of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from muxi_cli.errors import MuxiError
from muxi_cli.stores.pg_sessions import PgSessionStore
from muxi_cli.stores.pgsql import open_pg, pg_dialect, translate
from muxi_cli.stores.sqldialect import SQLITE


def test_upserts_and_inserts_of_new_rows() -> None:
    cols, key = ("run_id", "seq", "event"), ("run_id", "seq")
    assert (
        SQLITE.upsert("t", cols, key)
        == "INSERT OR REPLACE INTO t (run_id, seq, event) VALUES (?, ?, ?)"
    )
    assert (
        SQLITE.insert_new("t", cols, key)
        == "INSERT OR IGNORE INTO t (run_id, seq, event) VALUES (?, ?, ?)"
    )
    pg = pg_dialect()
    assert pg.upsert("t", cols, key).endswith(
        "ON CONFLICT (run_id, seq) DO UPDATE SET event = EXCLUDED.event"
    )
    assert pg.upsert("t", key, key).endswith("ON CONFLICT (run_id, seq) DO NOTHING")
    assert pg.insert_new("t", cols, key).endswith("ON CONFLICT (run_id, seq) DO NOTHING")


def test_placeholders_are_translated_outside_quotes_only() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c LIKE '%?%'") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE '%%?%%'"
    )
    assert (
        translate('SELECT "odd?name" FROM t WHERE x = ?') == 'SELECT "odd?name" FROM t WHERE x = %s'
    )
    assert translate("BEGIN IMMEDIATE") == "BEGIN"


def test_rows_read_by_name_index_and_slice(pg_url: str) -> None:
    conn = open_pg(pg_url)
    try:
        row = conn.execute("SELECT 1 AS one, 'a%' AS two, ? AS three", ("x",)).fetchone()
        assert (row["one"], row[1], row[1:], tuple(row)) == (1, "a%", ("a%", "x"), (1, "a%", "x"))
        assert row.keys() == ["one", "two", "three"]
        assert conn.execute("SELECT '100%'").fetchone()[0] == "100%"
    finally:
        conn.close()


def test_a_store_connects_again_after_losing_its_connection(pg_url: str, tmp_path: Path) -> None:
    store = PgSessionStore(pg_url, data_path=tmp_path / "sessions.db")
    store.ping_after = 3600.0  # never checked first, however slow this machine
    info = store.create_session("u1", title="before")
    _drop_connections(pg_url)
    # The call that finds the connection gone fails with the store's message...
    with pytest.raises(MuxiError, match="could not be used") as exc:
        store.get_session(info.id)
    assert "reconnects" in (exc.value.hint or "")
    # ...and the next one works on a new connection.
    assert store.get_session(info.id).title == "before"
    # After a quiet spell the connection is checked first: no call fails for it.
    store.ping_after = 0.0
    _drop_connections(pg_url)
    assert store.get_session(info.id).title == "before"
    store.close()


def _drop_connections(url: str) -> None:
    admin = open_pg(url)
    try:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        admin.close()


def test_a_write_waiting_for_a_locked_row_gives_up(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from muxi_cli.stores import pgsql

    monkeypatch.setattr(pgsql, "_OPTIONS", "-c lock_timeout=200 -c statement_timeout=30000")
    store = PgSessionStore(pg_url, data_path=tmp_path / "sessions.db")
    info = store.create_session("u1")
    holder = open_pg(pg_url)
    try:
        holder.execute("BEGIN")
        holder.execute("SELECT 1 FROM sessions WHERE id = ? FOR UPDATE", (info.id,))
        with pytest.raises(MuxiError, match="lock timeout"):
            store.add_message(info.id, "user", "waits for the lock")
        holder.execute("ROLLBACK")
        assert store.add_message(info.id, "user", "then goes through").seq == 1
    finally:
        holder.close()
        store.close()


def test_sqlites_insert_or_ignore_and_replace_are_read_as_upserts(pg_url: str) -> None:
    conn = open_pg(pg_url)
    try:
        conn.execute(
            "CREATE TABLE t (a TEXT, b BIGINT, c TEXT, n BIGINT GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (a, b))"
        )
        conn.execute("CREATE TABLE u (a TEXT, b BIGINT, c TEXT, PRIMARY KEY (a, b))")
        conn.execute("INSERT OR IGNORE INTO t (a, b, c) VALUES (?, ?, ?)", ("x", 1, "first"))
        conn.execute("INSERT OR IGNORE INTO t (a, b, c) VALUES (?, ?, ?)", ("x", 1, "second"))
        conn.executemany(
            "INSERT OR REPLACE INTO u VALUES (?, ?, ?)", [("x", 1, "one"), ("x", 2, "two")]
        )
        conn.execute("INSERT OR REPLACE INTO u VALUES (?, ?, ?)", ("x", 1, "again"))
        conn.execute("INSERT OR REPLACE INTO t (a, b, c) VALUES (?, ?, ?)", ("x", 1, "replaced"))
        assert conn.execute("SELECT c FROM t").fetchall() == [("replaced",)]
        assert conn.execute("SELECT b, c FROM u ORDER BY b").fetchall() == [
            (1, "again"),
            (2, "two"),
        ]
    finally:
        conn.close()
