"""Crash safety, multi-process writers and schema migrations of the sessions database."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import muxi_cli
from muxi_cli.errors import MuxiError
from muxi_cli.stores.session_schema import _V1, SCHEMA_VERSION, _statements
from muxi_cli.stores.sessions import SessionStore
from tests.procs import stopping


def _child_env() -> dict[str, str]:
    """The environment for a child Python that must import this checkout of muxi_cli."""
    root = str(Path(muxi_cli.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


_CRASHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from muxi_cli.stores.sessions import SessionStore

    store = SessionStore(Path(sys.argv[1]))
    info = store.create_session("u1")
    store.add_message(info.id, "user", "tell me a story")
    msg = store.add_message(info.id, "assistant", "", status="streaming", agent="bard")
    text = ""
    for word in ["Once", "upon", "a", "time"]:
        text += word + " "
        store.update_message(msg.id, content=text)
    print(info.id, msg.id, flush=True)
    sys.stdin.read()  # wait, mid-turn, until killed
    """
)


def test_killed_mid_reply_keeps_streamed_text(tmp_path: Path) -> None:
    db = tmp_path / "crash" / "sessions.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        session_id, message_id = line.split()
        # while the writer lives, its reply is not "interrupted"
        with SessionStore(db) as observer:
            assert observer.recover_interrupted() == 0
            assert observer.messages(session_id)[-1].status == "streaming"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:  # pragma: no cover - only if the child misbehaved
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.stdout is not None:
            proc.stdout.close()

    store = SessionStore(db)
    try:
        reply = store.messages(session_id)[-1]
        assert reply.id == int(message_id)
        assert (reply.content, reply.status) == ("Once upon a time ", "streaming")
        assert store.recover_interrupted() == 1
        reply = store.messages(session_id)[-1]
        assert (reply.content, reply.status, reply.agent) == (
            "Once upon a time ",
            "interrupted",
            "bard",
        )
        assert [m.role for m in store.messages(session_id)] == ["user", "assistant"]
    finally:
        store.close()


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from muxi_cli.stores.sessions import SessionStore

    store = SessionStore(Path(sys.argv[1]))
    for i in range(int(sys.argv[3])):
        store.add_message(sys.argv[2], "user", f"{sys.argv[4]}-{i}")
    store.close()
    """
)


def test_two_processes_write_one_session(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    with SessionStore(db) as store:
        info = store.create_session("u1")
    with contextlib.ExitStack() as running:
        procs = [
            running.enter_context(
                stopping(
                    subprocess.Popen(
                        [sys.executable, "-c", _WRITER, str(db), info.id, "60", tag],
                        env=_child_env(),
                    )
                )
            )
            for tag in ("a", "b")
        ]
        assert [p.wait(timeout=60) for p in procs] == [0, 0]
    with SessionStore(db) as store:
        msgs = store.messages(info.id)
    assert [m.seq for m in msgs] == list(range(1, 121))
    assert {m.content for m in msgs} == {f"{t}-{i}" for t in "ab" for i in range(60)}


def _version(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])
    finally:
        conn.close()


def test_new_database_records_current_version(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    with SessionStore(db) as store:
        store.list_sessions()
    assert _version(db) == SCHEMA_VERSION


def test_version_1_database_is_migrated_and_searchable(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    conn = sqlite3.connect(db)
    for statement in _statements(_V1):
        conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    ts = "2025-01-01T00:00:00.000000Z"
    conn.execute(
        "INSERT INTO sessions VALUES ('s_old000000001', 'u1', 'Old one', NULL, ?, ?)", (ts, ts)
    )
    conn.execute(
        "INSERT INTO messages (session_id, seq, role, content, status, created_at, updated_at)"
        " VALUES ('s_old000000001', 1, 'user', 'remember the aardvark', 'complete', ?, ?)",
        (ts, ts),
    )
    conn.commit()
    conn.close()

    with SessionStore(db) as store:
        assert [s.id for s in store.list_sessions(query="aardvark")] == ["s_old000000001"]
        assert store._fts
        store.add_message("s_old000000001", "assistant", "noted: pangolin")
        assert [s.id for s in store.list_sessions(query="pangolin")] == ["s_old000000001"]
        assert store.messages("s_old000000001")[-1].seq == 2
        store.add_message("s_old000000001", "assistant", "", status="streaming")
    assert _version(db) == SCHEMA_VERSION
    conn = sqlite3.connect(db)
    try:
        writer = conn.execute("SELECT writer FROM messages WHERE status = 'streaming'").fetchone()[
            0
        ]
    finally:
        conn.close()
    assert writer.endswith(f":{os.getpid()}")


def test_newer_database_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 5,))
    conn.commit()
    conn.close()
    store = SessionStore(db)
    with pytest.raises(MuxiError) as exc:
        store.list_sessions()
    assert f"schema version {SCHEMA_VERSION + 5}" in exc.value.message
    assert "newer muxi" in (exc.value.hint or "")
    assert _version(db) == SCHEMA_VERSION + 5  # untouched


def test_damaged_file_gives_a_muxi_error(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    db.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(MuxiError) as exc:
        SessionStore(db).list_sessions()
    assert str(db) in exc.value.message
    assert exc.value.hint
