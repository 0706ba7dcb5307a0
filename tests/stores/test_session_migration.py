"""Schema 3 -> 4: a database written by the store before content parts
(tests/stores/fixtures/sessions_v3.db, made by make_sessions_v3.py with the
code of commit 75993ed) opens with today's store and loses nothing."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from muxi_cli.core.history import to_messages
from muxi_cli.protocol.messages import TextPart, ToolCallPart, ToolResultPart
from muxi_cli.stores.session_export import export_session, load_export
from muxi_cli.stores.session_schema import SCHEMA_VERSION
from muxi_cli.stores.sessions import SessionStore

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "sessions_v3.db"
OLD_COLUMNS = (
    "id, session_id, seq, role, content, agent, run_id, status, created_at, updated_at, "
    "tool_calls, tool_call_id, meta, writer"
)


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    db = tmp_path / "sessions.db"
    shutil.copy(FIXTURE, db)
    assert _rows(db, "SELECT version FROM schema_version") == [(3,)]
    return db


def test_every_row_and_column_survives(old_db: Path) -> None:
    sessions_before = _rows(old_db, "SELECT * FROM sessions ORDER BY id")
    messages_before = _rows(old_db, f"SELECT {OLD_COLUMNS} FROM messages ORDER BY id")
    with SessionStore(old_db) as store:
        assert len(store.list_sessions()) == 2
    assert _rows(old_db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    assert _rows(old_db, "SELECT * FROM sessions ORDER BY id") == sessions_before
    assert _rows(old_db, f"SELECT {OLD_COLUMNS} FROM messages ORDER BY id") == messages_before
    assert _rows(old_db, "SELECT COUNT(*) FROM messages WHERE parts IS NULL") == [(0,)]


def test_old_rows_get_the_parts_they_describe(old_db: Path) -> None:
    with SessionStore(old_db) as store:
        msgs = store.messages("s_old000000001")
    by_seq = {m.seq: m for m in msgs}
    assert by_seq[1].parts == [TextPart("What is 2+3? Ünïcödé ✓")]
    assert by_seq[2].parts == [
        TextPart("Let me add."),
        ToolCallPart("c1", "calc__add", {"a": 2, "b": 3}),
    ]
    assert by_seq[3].parts == [ToolResultPart("c1", (TextPart('{"sum": 5}'),), False)]
    assert by_seq[6].parts == [ToolCallPart("c2", "fs__rm", {"path": "/"})]
    assert by_seq[7].parts == [
        ToolResultPart("c2", (TextPart("The call to rm was denied by policy."),), True)
    ]
    assert by_seq[8].parts == [TextPart("Summary: the user added numbers.")]
    assert (by_seq[9].status, by_seq[9].parts) == ("cancelled", [TextPart("half a reply")])
    # The fields older readers use are as they were.
    assert by_seq[2].tool_calls == [
        {"id": "c1", "name": "calc__add", "arguments": {"a": 2, "b": 3}}
    ]
    assert by_seq[3].tool_call_id == "c1" and by_seq[3].meta["duration_ms"] == 4
    assert by_seq[2].meta["usage"]["cost_usd"] == 0.01


def test_the_model_sees_the_same_conversation(old_db: Path, tmp_path: Path) -> None:
    with SessionStore(old_db) as store:
        msgs = store.messages("s_old000000001")
        usage = store.usage_totals("s_old000000001")
    without_parts = [type(m).from_dict({**m.to_dict(), "parts": []}) for m in msgs]
    # History built from parts equals history built from the old columns.
    assert to_messages(msgs, 1000) == to_messages(without_parts, 1000)
    assert usage == {"input_tokens": 10, "output_tokens": 3, "cost_usd": 0.01}


def test_search_export_and_new_writes_work_after_migration(old_db: Path) -> None:
    with SessionStore(old_db) as store:
        assert [s.id for s in store.list_sessions(query="Ünïcödé")] == ["s_old000000001"]
        assert [s.id for s in store.list_sessions(query="from bob")] != []
        info = store.get_session("s_old000000001")
        msgs = store.messages(info.id)
        md = export_session(info, msgs, "md")
        assert "Tool call `calc__add`" in md and "half a reply" in md
        again_info, again = load_export(export_session(info, msgs, "json"))
        assert again_info == info and again == msgs
        added = store.add_message(info.id, "user", "still here")
        assert store.messages(info.id)[-1].parts == added.parts == [TextPart("still here")]


def test_a_damaged_parts_value_falls_back_to_the_old_columns(old_db: Path) -> None:
    with SessionStore(old_db) as store:
        store.list_sessions()
    conn = sqlite3.connect(old_db)
    conn.execute('UPDATE messages SET parts = \'[{"type": "hologram"}]\' WHERE seq = 1')
    conn.commit()
    conn.close()
    with SessionStore(old_db) as store:
        first = store.messages("s_old000000001")[0]
    assert first.parts == [TextPart("What is 2+3? Ünïcödé ✓")]
