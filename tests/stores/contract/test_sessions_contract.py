"""The SessionStore's behaviours on both engines (conftest.py: ``store`` is a
SQLite file or a PostgreSQL database). The engine-neutral cases of
tests/stores/test_sessions.py run here as they are; the rest are written once
below without reaching into either engine."""

from __future__ import annotations

import pytest

from muxi_cli.errors import NotFoundError
from muxi_cli.stores.sessions import SessionStore, export_session, load_export
from tests.stores.contract.conftest import Opener
from tests.stores.test_session_media import (  # noqa: F401  (collected here, on both engines)
    test_deleting_a_session_deletes_media_no_other_session_of_its_owner_uses,
    test_deleting_a_session_survives_media_deleted_already,
    test_messages_with_media_fill_session_media_in_order,
    test_search_matches_text_derived_from_attachments,
)
from tests.stores.test_sessions import (  # noqa: F401  (collected here, on both engines)
    test_assistant_agent_recorded_when_session_has_none,
    test_auto_title_from_first_user_message,
    test_concurrent_writers_from_threads_lose_nothing,
    test_create_get_and_ids,
    test_create_rejects_bad_or_taken_ids,
    test_invalid_role_and_status,
    test_list_newest_first_last_session_and_paging,
    test_messages_seq_order_and_fields,
    test_missing_session_is_not_found_with_hint,
    test_resolve_id,
    test_search_finds_any_literal_substring,
    test_search_follows_streamed_updates,
    test_search_titles_and_content,
    test_search_treats_wildcards_and_quotes_literally,
    test_update_message_streaming,
    test_usage_totals,
    test_user_scoping,
)


def test_delete_removes_messages_and_their_search(store: SessionStore) -> None:
    info = store.create_session("u1")
    keep = store.create_session("u1")
    store.add_message(info.id, "user", "unique-needle-text")
    store.add_message(keep.id, "user", "other")
    store.delete_session(info.id)
    assert store.list_sessions(query="unique-needle") == []
    assert [m.content for m in store.messages(keep.id)] == ["other"]
    with pytest.raises(NotFoundError):
        store.delete_session(info.id)
    with pytest.raises(NotFoundError):
        store.messages(info.id)


def _age_replies(store: SessionStore) -> None:
    """Make the streaming replies look long quiet: on PostgreSQL a reply is taken
    for cut off only once no replica could still be writing it (pg_recovery.py)."""
    with store._write() as conn:
        conn.execute(
            "UPDATE messages SET updated_at = '2000-01-01T00:00:00.000000Z'"
            " WHERE status = 'streaming'"
        )


def test_recover_interrupted(store: SessionStore, open_store: Opener) -> None:
    info = store.create_session("u1")
    store.add_message(info.id, "user", "hi")
    m = store.add_message(info.id, "assistant", "partial", status="streaming")
    # the store that is streaming it knows the reply is alive
    assert store.recover_interrupted() == 0
    # a new store (as after a crash of the process that wrote it) recovers it
    after = open_store()
    assert after.recover_interrupted(older_than_s=3600) == 0
    _age_replies(store)
    assert after.recover_interrupted() == 1
    assert after.recover_interrupted() == 0
    last = store.messages(info.id)[-1]
    assert (last.id, last.status, last.content) == (m.id, "interrupted", "partial")


def test_finished_reply_is_no_longer_live(store: SessionStore, open_store: Opener) -> None:
    info = store.create_session("u1")
    m = store.add_message(info.id, "assistant", "", status="streaming")
    store.update_message(m.id, content="done", status="complete")
    assert store.recover_interrupted() == 0
    store.update_message(m.id, status="streaming")
    assert store.recover_interrupted() == 0
    _age_replies(store)
    assert open_store().recover_interrupted() == 1


def test_two_stores_on_one_database_see_each_others_writes(
    store: SessionStore, open_store: Opener
) -> None:
    other = open_store()
    info = store.create_session("u1", title="shared")
    other.add_message(info.id, "user", "from the other one")
    store.add_message(info.id, "assistant", "seen", agent="a")
    assert [m.seq for m in other.messages(info.id)] == [1, 2]
    assert other.get_session(info.id).message_count == 2
    store.close()  # and reopened on the next call
    assert store.list_sessions(query="other one")[0].id == info.id


def test_nul_characters_do_not_fail_a_write(store: SessionStore) -> None:
    info = store.create_session("u1")
    store.add_message(info.id, "tool", "before\x00after", tool_call_id="c1")
    content = store.messages(info.id)[0].content
    assert content.startswith("before") and content.endswith("after")


def test_export_reads_back_what_the_store_holds(store: SessionStore, open_store: Opener) -> None:
    info = store.create_session("alice", agent="helper")
    store.add_message(info.id, "user", "What's the time? ```odd``` fences")
    store.add_message(
        info.id,
        "assistant",
        "Let me check.",
        agent="helper",
        run_id="r1",
        tool_calls=[{"id": "c1", "server": "time", "tool": "now", "arguments": {"tz": "UTC"}}],
        meta={"usage": {"input_tokens": 12, "output_tokens": 4, "cost_usd": 0.001}},
    )
    store.add_message(info.id, "tool", "12:00", tool_call_id="c1", meta={"ok": True})
    partial = store.add_message(info.id, "assistant", "It is", status="streaming")
    store.update_message(partial.id, content="It is noon")
    _age_replies(store)
    open_store().recover_interrupted()
    got, msgs = store.get_session(info.id), store.messages(info.id)
    assert msgs[-1].status == "interrupted"
    again_info, again = load_export(export_session(got, msgs, "json"))
    assert (again_info, again) == (got, msgs)
    text = export_session(got, msgs, "md")
    assert "It is noon" in text and "interrupted" in text
