"""SessionStore against a real SQLite file in the temp MUXI_HOME."""

from __future__ import annotations

import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from muxi_cli import paths
from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.stores.sessions import SessionStore, title_from


@pytest.fixture
def store() -> Iterator[SessionStore]:
    s = SessionStore()
    yield s
    s.close()


def test_default_path_is_created_lazily(muxi_home: Path) -> None:
    s = SessionStore()
    assert s.path == paths.sessions_db_path()
    assert not s.path.parent.exists()
    s.list_sessions()
    assert s.path.exists()
    s.close()


def test_file_mode_0600_and_wal(store: SessionStore) -> None:
    info = store.create_session("u1")
    store.add_message(info.id, "user", "hi")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    wal = store.path.with_name(store.path.name + "-wal")
    assert wal.exists()
    assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    other = sqlite3.connect(store.path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_create_get_and_ids(store: SessionStore) -> None:
    a = store.create_session("u1", title="First", agent="helper")
    b = store.create_session("u1")
    assert a.id != b.id
    assert a.id.startswith("s_") and len(a.id) == 14
    got = store.get_session(a.id)
    assert (got.title, got.agent, got.user_id, got.message_count) == ("First", "helper", "u1", 0)
    assert store.create_session("u2", session_id="my-chat_1").id == "my-chat_1"


def test_create_rejects_bad_or_taken_ids(store: SessionStore) -> None:
    store.create_session("u1", session_id="taken")
    with pytest.raises(UsageError, match="already in use"):
        store.create_session("u1", session_id="taken")
    with pytest.raises(UsageError, match="Invalid session id"):
        store.create_session("u1", session_id="../etc")
    with pytest.raises(UsageError):
        store.create_session("")


def test_missing_session_is_not_found_with_hint(store: SessionStore) -> None:
    with pytest.raises(NotFoundError) as exc:
        store.get_session("s_nope")
    assert "muxi sessions list" in (exc.value.hint or "")
    with pytest.raises(NotFoundError):
        store.add_message("s_nope", "user", "x")
    with pytest.raises(NotFoundError):
        store.messages("s_nope")
    with pytest.raises(NotFoundError):
        store.set_agent("s_nope", "a")
    with pytest.raises(NotFoundError):
        store.update_message(12345, content="x")


def test_messages_seq_order_and_fields(store: SessionStore) -> None:
    info = store.create_session("u1")
    m1 = store.add_message(info.id, "user", "What time is it?")
    calls = [{"id": "c1", "server": "time", "tool": "now", "arguments": {"tz": "UTC"}}]
    m2 = store.add_message(info.id, "assistant", "", agent="helper", run_id="r1", tool_calls=calls)
    m3 = store.add_message(
        info.id,
        "tool",
        "12:00",
        tool_call_id="c1",
        meta={"server": "time", "tool": "now", "ok": True},
    )
    m4 = store.add_message(info.id, "assistant", "It is noon.", agent="helper", run_id="r1")
    assert [m.seq for m in (m1, m2, m3, m4)] == [1, 2, 3, 4]
    msgs = store.messages(info.id)
    assert [m.id for m in msgs] == [m1.id, m2.id, m3.id, m4.id]
    assert msgs[1].tool_calls == calls and msgs[1].agent == "helper" and msgs[1].run_id == "r1"
    assert msgs[2].tool_call_id == "c1" and msgs[2].meta["ok"] is True
    assert msgs == [m1, m2, m3, m4]
    assert [m.seq for m in store.messages(info.id, limit=2)] == [3, 4]
    assert store.get_session(info.id).message_count == 4
    # another session counts from 1 again
    other = store.create_session("u1")
    assert store.add_message(other.id, "user", "x").seq == 1


def test_invalid_role_and_status(store: SessionStore) -> None:
    info = store.create_session("u1")
    with pytest.raises(UsageError):
        store.add_message(info.id, "robot", "x")
    with pytest.raises(UsageError):
        store.add_message(info.id, "user", "x", status="done")
    m = store.add_message(info.id, "user", "x")
    with pytest.raises(UsageError):
        store.update_message(m.id, status="weird")


def test_auto_title_from_first_user_message(store: SessionStore) -> None:
    info = store.create_session("u1")
    store.add_message(info.id, "system", "Summary of earlier turns")
    assert store.get_session(info.id).title == ""
    long = "\n\n   Please   plan a trip " + "x" * 100 + "\nsecond line"
    store.add_message(info.id, "user", long)
    title = store.get_session(info.id).title
    assert title.startswith("Please plan a trip x") and title.endswith("…")
    assert len(title) <= 60
    store.add_message(info.id, "user", "Another question")
    assert store.get_session(info.id).title == title
    named = store.create_session("u1", title="Kept")
    store.add_message(named.id, "user", "ignored for the title")
    assert store.get_session(named.id).title == "Kept"
    assert title_from("   \n") == ""


def test_assistant_agent_recorded_when_session_has_none(store: SessionStore) -> None:
    info = store.create_session("u1")
    store.add_message(info.id, "assistant", "hi", agent="writer")
    assert store.get_session(info.id).agent == "writer"
    store.add_message(info.id, "assistant", "hi", agent="coder")
    assert store.get_session(info.id).agent == "writer"
    store.set_agent(info.id, "coder")
    assert store.get_session(info.id).agent == "coder"


def test_list_newest_first_last_session_and_paging(store: SessionStore) -> None:
    a = store.create_session("u1", title="a")
    b = store.create_session("u1", title="b")
    c = store.create_session("u2", title="c")
    assert [s.id for s in store.list_sessions()] == [c.id, b.id, a.id]
    store.add_message(a.id, "user", "bump")
    assert [s.id for s in store.list_sessions(user_id="u1")] == [a.id, b.id]
    assert store.last_session("u1") == store.get_session(a.id)
    assert store.last_session("nobody") is None
    assert [s.id for s in store.list_sessions(limit=1, offset=1)] == [c.id]
    assert store.list_sessions(limit=0) == []


def test_update_message_streaming(store: SessionStore) -> None:
    info = store.create_session("u1")
    before = store.get_session(info.id).updated_at
    m = store.add_message(info.id, "assistant", "", status="streaming", meta={"model": "m1"})
    store.update_message(m.id, content="Hel")
    store.update_message(
        m.id, content="Hello", status="complete", meta={"usage": {"input_tokens": 1}}
    )
    got = store.messages(info.id)[-1]
    assert (got.content, got.status) == ("Hello", "complete")
    assert got.meta == {"model": "m1", "usage": {"input_tokens": 1}}
    calls = [{"id": "c9", "tool": "x", "arguments": {}}]
    store.update_message(m.id, tool_calls=calls)
    assert store.messages(info.id)[-1].tool_calls == calls
    assert store.get_session(info.id).updated_at > before


def test_user_scoping(store: SessionStore) -> None:
    mine = store.create_session("alice", title="mine")
    with pytest.raises(NotFoundError) as wrong:
        store.get_session(mine.id, user_id="bob")
    with pytest.raises(NotFoundError) as missing:
        store.get_session("s_000000000000", user_id="bob")
    # same kind of answer whether the session exists or not
    assert wrong.value.hint == missing.value.hint
    assert str(wrong.value).replace(mine.id, "X") == str(missing.value).replace(
        "s_000000000000", "X"
    )
    with pytest.raises(NotFoundError):
        store.rename_session(mine.id, "stolen", user_id="bob")
    with pytest.raises(NotFoundError):
        store.delete_session(mine.id, user_id="bob")
    with pytest.raises(NotFoundError):
        store.messages(mine.id, user_id="bob")
    with pytest.raises(NotFoundError):
        store.resolve_id(mine.id, user_id="bob")
    assert store.list_sessions(user_id="bob") == []
    assert store.get_session(mine.id, user_id="alice").title == "mine"
    assert store.rename_session(mine.id, "  new\n name ", user_id="alice").title == "new name"
    store.delete_session(mine.id, user_id="alice")
    with pytest.raises(NotFoundError):
        store.get_session(mine.id)


def test_delete_removes_messages(store: SessionStore) -> None:
    info = store.create_session("u1")
    keep = store.create_session("u1")
    store.add_message(info.id, "user", "unique-needle-text")
    store.add_message(keep.id, "user", "other")
    store.delete_session(info.id)
    conn = sqlite3.connect(store.path)
    try:
        rows = conn.execute("SELECT session_id FROM messages").fetchall()
    finally:
        conn.close()
    assert rows == [(keep.id,)]
    assert store.list_sessions(query="unique-needle") == []
    with pytest.raises(NotFoundError):
        store.delete_session(info.id)


@pytest.fixture(params=["fts", "like"])
def search_store(request: pytest.FixtureRequest, store: SessionStore) -> SessionStore:
    store.list_sessions()  # open
    if request.param == "like":
        store._fts = False
    else:
        assert store._fts, "this SQLite should have FTS5 with the trigram tokenizer"
    return store


def test_search_titles_and_content(search_store: SessionStore) -> None:
    s = search_store
    trip = s.create_session("u1", title="Trip to Lisbon")
    code = s.create_session("u1", title="Refactor")
    s.add_message(code.id, "assistant", "Use a Context Manager for the database connection.")
    other = s.create_session("u2", title="lisbon too")
    ids = lambda found: {x.id for x in found}  # noqa: E731
    assert ids(s.list_sessions(query="lisbon")) == {trip.id, other.id}
    assert ids(s.list_sessions(query="lisbon", user_id="u1")) == {trip.id}
    assert ids(s.list_sessions(query="context manager")) == {code.id}
    assert ids(s.list_sessions(query="base conn")) == {code.id}
    assert ids(s.list_sessions(query="nothing like this")) == set()
    assert ids(s.list_sessions(query="  ")) == {trip.id, code.id, other.id}


def test_search_treats_wildcards_and_quotes_literally(search_store: SessionStore) -> None:
    s = search_store
    pct = s.create_session("u1", title="100% done")
    under = s.create_session("u1", title="snake a_b")
    plain = s.create_session("u1", title="axb and 100 percent")
    quoted = s.create_session("u1")
    s.add_message(quoted.id, "user", 'He said "hello" and it\'s fine; 50%_off \\ back')
    ids = lambda found: {x.id for x in found}  # noqa: E731
    assert ids(s.list_sessions(query="%")) == {pct.id, quoted.id}
    assert ids(s.list_sessions(query="0% d")) == {pct.id}
    assert ids(s.list_sessions(query="a_b")) == {under.id}
    assert ids(s.list_sessions(query="_")) == {under.id, quoted.id}
    assert ids(s.list_sessions(query='"hello"')) == {quoted.id}
    assert ids(s.list_sessions(query="it's")) == {quoted.id}
    assert ids(s.list_sessions(query="50%_off")) == {quoted.id}
    assert ids(s.list_sessions(query="\\ back")) == {quoted.id}
    assert ids(s.list_sessions(query="HELLO")) == {quoted.id}
    assert plain.id not in ids(s.list_sessions(query="a_b"))
    assert ids(s.list_sessions(query='" OR "')) == set()


def test_search_follows_streamed_updates(store: SessionStore) -> None:
    info = store.create_session("u1", title="t")
    m = store.add_message(info.id, "assistant", "first draft", status="streaming")
    store.update_message(m.id, content="final answer about zebras")
    assert [x.id for x in store.list_sessions(query="zebras")] == [info.id]
    assert store.list_sessions(query="first draft") == []


def test_resolve_id(store: SessionStore) -> None:
    a = store.create_session("u1", session_id="s_abc111")
    b = store.create_session("u1", session_id="s_abc222")
    c = store.create_session("u2", session_id="s_xyz999")
    assert store.resolve_id("s_abc1") == a.id
    assert store.resolve_id("abc2") == b.id  # the s_ may be left out
    assert store.resolve_id("s_xyz999") == c.id
    with pytest.raises(UsageError) as amb:
        store.resolve_id("abc")
    assert a.id in str(amb.value) and b.id in str(amb.value)
    assert store.resolve_id("xyz", user_id="u2") == c.id
    with pytest.raises(NotFoundError):
        store.resolve_id("s_abc", user_id="u2")
    with pytest.raises(NotFoundError):
        store.resolve_id("zzz")
    with pytest.raises(UsageError):
        store.resolve_id("  ")
    # an exact id wins even when it is also a prefix of another
    short = store.create_session("u1", session_id="s_abc")
    assert store.resolve_id("s_abc") == short.id
    # LIKE wildcards in a prefix match nothing special
    with pytest.raises(NotFoundError):
        store.resolve_id("s_%")


def test_recover_interrupted(store: SessionStore) -> None:
    info = store.create_session("u1")
    store.add_message(info.id, "user", "hi")
    m = store.add_message(info.id, "assistant", "partial", status="streaming")
    # the store that is streaming it knows the reply is alive
    assert store.recover_interrupted() == 0
    # a new store (as after a crash of the process that wrote it) recovers it
    with SessionStore(store.path) as after:
        assert after.recover_interrupted(older_than_s=3600) == 0
        assert after.recover_interrupted() == 1
        assert after.recover_interrupted() == 0
    last = store.messages(info.id)[-1]
    assert (last.id, last.status, last.content) == (m.id, "interrupted", "partial")


def test_finished_reply_is_no_longer_live(store: SessionStore) -> None:
    info = store.create_session("u1")
    m = store.add_message(info.id, "assistant", "", status="streaming")
    store.update_message(m.id, content="done", status="complete")
    assert store.recover_interrupted() == 0
    store.update_message(m.id, status="streaming")
    assert store.recover_interrupted() == 0
    with SessionStore(store.path) as after:
        assert after.recover_interrupted() == 1


def test_usage_totals(store: SessionStore) -> None:
    info = store.create_session("u1")
    assert store.usage_totals(info.id) == {"input_tokens": 0, "output_tokens": 0, "cost_usd": None}
    store.add_message(info.id, "user", "q")
    store.add_message(
        info.id,
        "assistant",
        "a",
        meta={"usage": {"input_tokens": 10, "output_tokens": 5, "cost_usd": None}},
    )
    store.add_message(
        info.id,
        "assistant",
        "b",
        meta={
            "usage": [
                {"input_tokens": 7, "output_tokens": 3, "cost_usd": 0.25},
                {"input_tokens": 1, "output_tokens": 1, "cost_usd": 0.5},
            ]
        },
    )
    totals = store.usage_totals(info.id)
    assert totals == {"input_tokens": 18, "output_tokens": 9, "cost_usd": 0.75}


def test_concurrent_writers_from_threads_lose_nothing(store: SessionStore) -> None:
    shared = store.create_session("u1")
    per_thread = 40
    threads = 8
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            own = store.create_session(f"user{n}")
            for i in range(per_thread):
                store.add_message(shared.id, "user", f"t{n}-{i}")
                m = store.add_message(own.id, "assistant", "", status="streaming")
                store.update_message(m.id, content=f"done {i}", status="complete")
                store.list_sessions(query=f"t{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert not errors
    msgs = store.messages(shared.id)
    assert len(msgs) == threads * per_thread
    assert [m.seq for m in msgs] == list(range(1, threads * per_thread + 1))
    assert {m.content for m in msgs} == {
        f"t{n}-{i}" for n in range(threads) for i in range(per_thread)
    }
    for n in range(threads):
        (own,) = store.list_sessions(user_id=f"user{n}")
        assert own.message_count == per_thread
        assert all(m.status == "complete" for m in store.messages(own.id))


def test_close_then_reuse(store: SessionStore) -> None:
    info = store.create_session("u1")
    store.close()
    assert store.get_session(info.id).id == info.id
    with SessionStore(store.path) as again:
        assert again.get_session(info.id).id == info.id


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("%_\\\"'*^():-"),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=_TEXT, needle=_TEXT, after=_TEXT)
def test_search_finds_any_literal_substring(
    search_store: SessionStore, before: str, needle: str, after: str
) -> None:
    store = search_store
    needle = needle.strip()
    assume(needle)
    info = store.create_session("prop")
    try:
        # an assistant message leaves the title empty: only the content can match
        store.add_message(info.id, "assistant", before + needle + after)
        found = {s.id for s in store.list_sessions(user_id="prop", query=needle)}
        assert info.id in found
    finally:
        store.delete_session(info.id)
