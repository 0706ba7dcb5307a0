"""Schema 4 -> 5: a database (and media folder) written before ``session_media``
and the media index (tests/stores/fixtures/sessions_v4.db and media/, made by
make_sessions_v4.py with the code of commit 1fd727f) open with today's store:
nothing is lost, every session's files are listed and owned by its user."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from muxi_cli.protocol.messages import ImagePart, TextPart
from muxi_cli.stores.session_schema import SCHEMA_VERSION
from muxi_cli.stores.sessions import SessionStore

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PNG = b"\x89PNG\r\n\x1a\n fixture image"
PDF = b"%PDF-1.4 fixture document"
PNG_ID = hashlib.sha256(PNG).hexdigest()
PDF_ID = hashlib.sha256(PDF).hexdigest()


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    db = tmp_path / "sessions.db"
    shutil.copy(FIXTURES / "sessions_v4.db", db)
    shutil.copytree(FIXTURES / "media", tmp_path / "media")
    assert _rows(db, "SELECT version FROM schema_version") == [(4,)]
    return db


def test_rows_survive_and_session_media_is_filled(old_db: Path) -> None:
    messages_before = _rows(old_db, "SELECT * FROM messages ORDER BY id")
    sessions_before = _rows(old_db, "SELECT * FROM sessions ORDER BY id")
    with SessionStore(old_db) as store:
        first = store.session_media("s_v4media0001")
        assert [(r.id, r.name) for r in first] == [(PNG_ID, "shot.png"), (PDF_ID, "report.pdf")]
        assert [r.id for r in store.session_media("s_v4media0002")] == [PNG_ID]
        assert store.session_media("s_v4media0003") == []
    assert SCHEMA_VERSION >= 5
    assert _rows(old_db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    assert _rows(old_db, "SELECT * FROM messages ORDER BY id") == messages_before
    assert _rows(old_db, "SELECT * FROM sessions ORDER BY id") == sessions_before
    assert _rows(
        old_db, "SELECT message_id, pos, media_id, owner FROM session_media ORDER BY 1, 2"
    ) == [
        (1, 0, PNG_ID, "ada"),
        (1, 1, PDF_ID, "ada"),
        (3, 0, PNG_ID, "ada"),
        (5, 0, PNG_ID, "ada"),
    ]


def test_old_files_are_owned_by_their_sessions_user(old_db: Path) -> None:
    with SessionStore(old_db) as store:
        store.recover_interrupted()  # the first use migrates (as the runtime's open does)
        ada, bob = store.media.for_owner("ada"), store.media.for_owner("bob")
        assert ada.get(PNG_ID) == PNG and ada.get(PDF_ID) == PDF
        assert ada.usage() == len(PNG) + len(PDF)
        assert not bob.has(PNG_ID)
        # Refcounted delete works on the migrated data.
        store.delete_session("s_v4media0001")
        assert not ada.has(PDF_ID) and ada.get(PNG_ID) == PNG
        store.delete_session("s_v4media0002")
        assert not ada.has(PNG_ID)
    assert not (old_db.parent / "media" / PNG_ID[:2] / PNG_ID).exists()


def test_new_messages_after_migration_are_recorded(old_db: Path) -> None:
    with SessionStore(old_db) as store:
        ref = store.media.for_owner("bob").put(b"GIF89a new", "image/gif", "n.gif")
        store.add_message("s_v4media0003", "user", "new", parts=[TextPart("new"), ImagePart(ref)])
        assert store.session_media("s_v4media0003") == [ref]
        assert [s.id for s in store.list_sessions("bob", query="plain text")] == ["s_v4media0003"]
