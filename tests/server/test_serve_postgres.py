"""`muxi serve --database-url`: a real server process keeps its sessions, messages
and run records in PostgreSQL, and a second server on the same database sees them."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from tests.fakellm import FakeLLM, Text
from tests.procs import run_muxi
from tests.server.serveproc import ServeProcess

KEY_RE = re.compile(r"muxi_[0-9a-f]{10}_[A-Za-z0-9_-]{43}")


async def test_a_turn_is_stored_in_postgresql_and_seen_by_another_replica(
    fake_llm: FakeLLM, pg_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "srv-home"
    config = fake_llm.write_formation(tmp_path)
    first = ServeProcess(home, config, args=("--database-url", pg_url)).start()
    try:
        _admin, user = KEY_RE.findall(first.log())
        rt = RemoteRuntime(first.url, user, label="one")
        try:
            fake_llm.script(Text("stored in postgres"))
            turn = await rt.chat(ChatRequest(message="where do you keep this?"))
            events = [e async for e in turn.events()]
            assert events[-1].type == "run.completed", first.log()
            session_id = events[0].session_id
            # The timeline is read from the run records, after the writer has written them.
            [recorded] = await rt.timeline(session_id)
            assert (recorded.run_id, recorded.status) == (events[0].run_id, "completed")
        finally:
            await rt.aclose()

        with psycopg.connect(pg_url) as conn:
            owner = conn.execute("SELECT user_id FROM sessions WHERE id = %s", (session_id,))
            assert owner.fetchone() is not None
            rows = conn.execute(
                "SELECT role, content, status FROM messages WHERE session_id = %s ORDER BY seq",
                (session_id,),
            ).fetchall()
            runs = conn.execute("SELECT status FROM runs WHERE session_id = %s", (session_id,))
            assert runs.fetchall() == [("completed",)]
            # The turn's event log (for resuming its stream on any replica) is there too.
            logged = conn.execute(
                "SELECT count(*) FROM run_events WHERE run_id = %s", (events[0].run_id,)
            ).fetchone()
            assert logged is not None and logged[0] == len(events)
        assert rows == [
            ("user", "where do you keep this?", "complete"),
            ("assistant", "stored in postgres", "complete"),
        ]
        assert not (home / "data" / "sessions.db").exists()  # no SQLite sessions file

        # A second replica on the same database (and data folder: the same keys).
        with ServeProcess(home, config, args=("--database-url", pg_url)) as second:
            other = RemoteRuntime(second.url, user, label="two")
            try:
                assert [s.id for s in await other.sessions()] == [session_id]
                assert [m.content for m in await other.messages(session_id)] == [
                    "where do you keep this?",
                    "stored in postgres",
                ]
            finally:
                await other.aclose()
    finally:
        first.stop()


def test_a_url_that_is_not_postgresql_is_refused_before_starting(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    config = fake_llm.write_formation(tmp_path)
    done = run_muxi(
        "serve", "--port", "0", "--config", str(config),
        "--database-url", "mysql://muxi:s3cret@db.internal/muxi",
    )  # fmt: skip
    assert done.returncode != 0
    assert "not a PostgreSQL URL" in done.stderr and "postgresql://" in done.stderr
    assert "s3cret" not in done.stderr + done.stdout
