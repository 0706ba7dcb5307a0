"""Schema and migrations of the sessions database.

The database records its schema version in ``schema_version``. Opening runs
every migration above the recorded version in one transaction, so
an older file is brought up to date in place. A file written by a newer muxi
(a version above :data:`SCHEMA_VERSION`) is refused with a clear error rather
than risk damaging it.

History:

1. ``sessions`` and ``messages`` tables.
2. A full-text index over message content (FTS5 with the trigram tokenizer,
   so any substring of three or more characters is found), kept in step by
   triggers. Skipped where this SQLite has no FTS5/trigram: search then
   scans with ``LIKE``.
3. ``messages.writer`` (``host:pid`` of the process streaming a reply), so
   crash recovery leaves replies that a live process is still writing alone.
4. ``messages.parts``: the message's content parts as JSON (protocol/messages.py;
   media as references, never bytes). Existing rows get the parts their
   ``content``, ``tool_calls`` and ``tool_call_id`` describe; those columns
   stay (``content`` is the searchable text).
5. ``session_media``: one row per media reference in a message (tool results'
   media included), with the session's owner, so a session's files are listed
   without reading every message and a file is deleted with the last session
   of its owner that refers to it. Filled from the existing messages' parts.
6. ``runs`` and ``run_tools``: one row per finished run (a turn's or a
   delegate's) and per tool call, written by the run recorder
   (runtime/recorder.py); ``run_rollup``: their sums per user (and all
   users), figure, day and key, kept in step by the same writer
   (stores/run_rollup.py), which ``muxi stats`` reads (stores/run_stats.py).
7. ``run_recalls``: one row per memory a turn recalled (its top-level run's
   ``memory.recalled`` items: id, score), with the run's session, user, agent
   and start, for ``muxi memory stats`` (most recalled, recent recalls;
   stores/run_recalls.py). Runs recorded before it have none. (``runs`` is
   already indexed by session and start since version 6.)
8. ``run_streams`` and ``run_events``: every event of a turn a server runs,
   numbered from 1 per run (the SSE ``id``), with the run's owner and whether
   its closing event is in, and when its replica last said it still runs it
   (``beat_at``), so a client that lost the stream resumes it
   (stores/run_events.py). Kept for a while after the run ends, then pruned.
9. ``turn_keys``: the idempotency key of each turn start per user and the run
   it started, so a retried start attaches to that run (stores/turn_keys.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from muxi_cli.errors import MuxiError
from muxi_cli.protocol.messages import legacy_parts, parts_to_list
from muxi_cli.stores.session_media import insert_media_rows
from muxi_cli.stores.session_rows import loads, row_parts

SCHEMA_VERSION = 9

FTS_TABLE = "messages_fts"

_V1 = """
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    agent       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id, updated_at);
CREATE INDEX sessions_by_update ON sessions (updated_at);
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    role         TEXT NOT NULL,
    content      TEXT NOT NULL DEFAULT '',
    agent        TEXT,
    run_id       TEXT,
    status       TEXT NOT NULL DEFAULT 'complete',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    tool_calls   TEXT,
    tool_call_id TEXT,
    meta         TEXT,
    UNIQUE (session_id, seq)
);
CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';
"""

_V2_FTS = f"""
CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5 (
    content, content='messages', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO {FTS_TABLE} (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO {FTS_TABLE} (rowid, content) VALUES (new.id, new.content);
END;
INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild');
"""


def fts_supported(conn: sqlite3.Connection) -> bool:
    """True if this SQLite can build an FTS5 table with the trigram tokenizer."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp._muxi_fts_probe USING fts5 (x, tokenize='trigram')")
        conn.execute("DROP TABLE temp._muxi_fts_probe")
    except sqlite3.Error:
        return False
    return True


def has_fts(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS_TABLE,)
    ).fetchone()
    return row is not None


def _v1(conn: sqlite3.Connection) -> None:
    _script(conn, _V1)


def _v2(conn: sqlite3.Connection) -> None:
    if fts_supported(conn):
        _script(conn, _V2_FTS)


def _v3(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE messages ADD COLUMN writer TEXT")


def _v4(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE messages ADD COLUMN parts TEXT")
    rows = conn.execute(
        "SELECT id, role, content, tool_calls, tool_call_id, meta FROM messages"
    ).fetchall()
    for row_id, role, content, calls_text, call_id, meta_text in rows:
        calls = loads(calls_text, [])
        meta = loads(meta_text, {})
        ok = meta.get("ok", True) if isinstance(meta, dict) else True
        parts = legacy_parts(
            role,
            content or "",
            [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else [],
            call_id,
            is_error=not ok,
        )
        conn.execute(
            "UPDATE messages SET parts = ? WHERE id = ?",
            (json.dumps(parts_to_list(parts), ensure_ascii=False), row_id),
        )


_V5 = """
CREATE TABLE session_media (
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    pos         INTEGER NOT NULL,
    media_id    TEXT NOT NULL,
    owner       TEXT NOT NULL,
    ref         TEXT NOT NULL,
    PRIMARY KEY (message_id, pos)
);
CREATE INDEX session_media_by_session ON session_media (session_id, message_id);
CREATE INDEX session_media_by_owner ON session_media (owner, media_id);
"""


def _v5(conn: sqlite3.Connection) -> None:
    _script(conn, _V5)
    rows = conn.execute(
        "SELECT m.id, m.session_id, m.role, m.content, m.tool_calls, m.tool_call_id, m.meta,"
        " m.parts, s.user_id FROM messages m JOIN sessions s ON s.id = m.session_id"
        " WHERE m.parts LIKE '%\"media\"%' ORDER BY m.id"
    ).fetchall()
    for row in rows:
        insert_media_rows(conn, row[1], row[0], row[8], row_parts(row))


_V6 = """
CREATE TABLE runs (
    run_id          TEXT PRIMARY KEY,
    parent_run_id   TEXT,
    session_id      TEXT NOT NULL,
    user_id         TEXT NOT NULL DEFAULT '',
    agent           TEXT NOT NULL DEFAULT '',
    model           TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    error_code      TEXT,
    started_at      TEXT NOT NULL,
    day             TEXT NOT NULL,
    first_token_ms  INTEGER,
    duration_ms     INTEGER,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    cost_usd        REAL,
    route_method    TEXT,
    route_reason    TEXT,
    route_cached    INTEGER,
    route_failure   TEXT,
    router_model    TEXT,
    recalls         INTEGER NOT NULL DEFAULT 0,
    recall_top      REAL,
    delegations     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_time ON runs (started_at);
CREATE INDEX runs_by_user ON runs (user_id, started_at);
CREATE INDEX runs_by_session ON runs (session_id, started_at);
CREATE TABLE run_tools (
    run_id       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    call_id      TEXT NOT NULL,
    tool         TEXT NOT NULL DEFAULT '',
    server       TEXT NOT NULL DEFAULT '',
    outcome      TEXT NOT NULL,
    approval_by  TEXT,
    decision     TEXT,
    duration_ms  INTEGER,
    started_at   TEXT NOT NULL,
    user_id      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX run_tools_by_time ON run_tools (started_at);
CREATE TABLE run_rollup (
    user_id          TEXT NOT NULL,
    dim              TEXT NOT NULL,
    day              TEXT NOT NULL,
    key              TEXT NOT NULL,
    turns            INTEGER NOT NULL DEFAULT 0,
    runs             INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    cancelled        INTEGER NOT NULL DEFAULT 0,
    ok               INTEGER NOT NULL DEFAULT 0,
    denied           INTEGER NOT NULL DEFAULT 0,
    input_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens    INTEGER NOT NULL DEFAULT 0,
    cost_usd         REAL NOT NULL DEFAULT 0,
    recalls          INTEGER NOT NULL DEFAULT 0,
    recall_turns     INTEGER NOT NULL DEFAULT 0,
    recall_top_sum   REAL NOT NULL DEFAULT 0,
    recall_top_n     INTEGER NOT NULL DEFAULT 0,
    routed           INTEGER NOT NULL DEFAULT 0,
    cached           INTEGER NOT NULL DEFAULT 0,
    fallbacks        INTEGER NOT NULL DEFAULT 0,
    first_token_hist TEXT NOT NULL DEFAULT '{}',
    duration_hist    TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (user_id, dim, day, key)
) WITHOUT ROWID;
"""


def _v6(conn: sqlite3.Connection) -> None:
    _script(conn, _V6)


_V7 = """
CREATE TABLE run_recalls (
    run_id      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    session_id  TEXT NOT NULL,
    user_id     TEXT NOT NULL DEFAULT '',
    agent       TEXT NOT NULL DEFAULT '',
    memory_id   TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT '',
    score       REAL,
    started_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX run_recalls_by_user ON run_recalls (user_id, started_at);
CREATE INDEX run_recalls_by_memory ON run_recalls (memory_id);
"""


def _v7(conn: sqlite3.Connection) -> None:
    _script(conn, _V7)


_V8 = """
CREATE TABLE run_streams (
    run_id      TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    session_id  TEXT NOT NULL DEFAULT '',
    replica     TEXT NOT NULL DEFAULT '',
    started_at  TEXT NOT NULL,
    beat_at     TEXT NOT NULL,
    done_at     TEXT
);
CREATE INDEX run_streams_by_start ON run_streams (started_at);
CREATE TABLE run_events (
    run_id  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    event   TEXT NOT NULL,
    at      TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
"""


def _v8(conn: sqlite3.Connection) -> None:
    _script(conn, _V8)


def _v9(conn: sqlite3.Connection) -> None:
    from muxi_cli.stores.turn_keys import ddl  # deferred: the table is defined beside its store

    _script(conn, ddl("TEXT") + ";")


def _script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would commit the open transaction; run statement by statement.
    for statement in _statements(script):
        conn.execute(statement)


def _statements(script: str) -> list[str]:
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


#: ``MIGRATIONS[n]`` brings a database from version ``n`` to ``n + 1``.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _v1,
    _v2,
    _v3,
    _v4,
    _v5,
    _v6,
    _v7,
    _v8,
    _v9,
]


def current_version(conn: sqlite3.Connection) -> int:
    """The recorded schema version; 0 for a new (or pre-versioning) file."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def step_up(
    conn: Any, version: int, migrations: Sequence[Callable[[Any], None]], where: str, other: str
) -> None:
    """Run ``migrations[version:]`` and record the last version, in the caller's
    transaction, or refuse a database a newer muxi wrote (``other``: how to use
    another one). The SQLite file and the PostgreSQL database both step up so."""
    target = len(migrations)
    if version > target:
        raise MuxiError(
            f"The sessions database {where} has schema version {version}; "
            f"this muxi understands up to version {target}.",
            hint=f"It was written by a newer muxi: upgrade muxi (`pip install -U muxi-cli`), "
            f"or {other}.",
        )
    if version < target:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for step in range(version, target):
            migrations[step](conn)
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (target,))


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the database at ``path`` up to :data:`SCHEMA_VERSION`; return the old version.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn)
        step_up(conn, version, MIGRATIONS, str(path), "set MUXI_HOME to use another data folder")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version
