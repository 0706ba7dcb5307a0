"""Markdown and JSON exports of a session."""

from __future__ import annotations

import json
from typing import Any

import pytest

from muxi_cli.errors import UsageError
from muxi_cli.protocol.records import SessionInfo, SessionMessage
from muxi_cli.stores.sessions import SessionStore, export_session, load_export

SECRETS = (
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv",
    "sk-proj-0123456789abcdefghijKLMN",
    "hunter2-password-value",
    "tok_live_secret_value_42",
    "eyJhbGciOiJIUzI1NiJ9.payload.sig",
    "ghp_abcdefghijklmnopqrstuvwxyz0123",
)


def _conversation(
    store: SessionStore, *, secrets: bool
) -> tuple[SessionInfo, list[SessionMessage]]:
    info = store.create_session("alice", agent="helper")
    store.add_message(info.id, "user", "What's the time in Lisbon? ```odd``` fences")
    args: dict[str, object] = {"tz": "Europe/Lisbon"}
    if secrets:
        args["api_key"] = SECRETS[2]
    store.add_message(
        info.id,
        "assistant",
        "Let me check.",
        agent="helper",
        run_id="r1",
        tool_calls=[{"id": "c1", "server": "time", "tool": "get_time", "arguments": args}],
        meta={"usage": {"input_tokens": 12, "output_tokens": 4, "cost_usd": 0.001}},
    )
    store.add_message(
        info.id,
        "tool",
        '{"time": "12:00"} <b>html</b>',
        tool_call_id="c1",
        meta={"server": "time", "tool": "get_time", "ok": True, "duration_ms": 42},
    )
    reply = "It is noon in Lisbon."
    meta: dict[str, object] = {}
    if secrets:
        reply += f" Your key {SECRETS[0]} and {SECRETS[1]} and {SECRETS[5]} should be rotated."
        meta = {
            "headers": {"Authorization": f"Bearer {SECRETS[4]}", "X-Token": SECRETS[3]},
            "token": SECRETS[3],
        }
    store.add_message(info.id, "assistant", reply, agent="helper", run_id="r1", meta=meta)
    store.add_message(info.id, "system", "Summary: user asked for the time.")
    partial = store.add_message(info.id, "assistant", "Also", status="streaming", agent="helper")
    store.update_message(partial.id, content="Also, the weath")
    with SessionStore(store.path) as after_crash:
        after_crash.recover_interrupted()
    return store.get_session(info.id), store.messages(info.id)


@pytest.fixture
def store() -> SessionStore:
    return SessionStore()


def test_json_round_trips(store: SessionStore) -> None:
    info, msgs = _conversation(store, secrets=False)
    text = export_session(info, msgs, "json")
    data = json.loads(text)
    assert data["format"] == "muxi.session" and data["version"] == 1
    assert data["session"]["id"] == info.id
    assert len(data["messages"]) == len(msgs)
    again_info, again_msgs = load_export(text)
    assert again_info == info
    assert again_msgs == msgs


def test_markdown_shape(store: SessionStore) -> None:
    info, msgs = _conversation(store, secrets=False)
    md = export_session(info, msgs, "md")
    assert md.startswith("# What's the time in Lisbon?")
    assert f"`{info.id}`" in md and "`alice`" in md
    assert "### User" in md and "### Assistant (helper)" in md and "### System" in md
    assert "### Assistant (helper) - interrupted" in md
    assert "Tool call `time/get_time`:" in md
    assert '"tz": "Europe/Lisbon"' in md
    assert "<summary>time/get_time (ok, 42 ms)</summary>" in md
    assert '{"time": "12:00"} <b>html</b>' in md
    assert "> Summary: user asked for the time." in md
    # a message with a ``` run gets a longer fence only where fenced (tool results)
    assert "Also, the weath" in md


def test_tool_result_with_backticks_gets_longer_fence(store: SessionStore) -> None:
    info = store.create_session("u")
    store.add_message(info.id, "tool", "```py\nprint(1)\n```", meta={"tool": "run", "ok": False})
    md = export_session(store.get_session(info.id), store.messages(info.id), "md")
    assert "````\n```py\nprint(1)\n```\n````" in md
    assert "<summary>run (error)</summary>" in md


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_secrets_are_absent(store: SessionStore, fmt: str) -> None:
    info, msgs = _conversation(store, secrets=True)
    text = export_session(info, msgs, fmt)  # type: ignore[arg-type]
    for secret in SECRETS:
        assert secret not in text
    assert "[redacted]" in text
    assert "It is noon in Lisbon." in text
    if fmt == "json":
        _, again = load_export(text)
        # usage counters are not mistaken for secrets
        assert again[1].meta["usage"]["input_tokens"] == 12
        assert again[1].tool_calls[0]["arguments"]["tz"] == "Europe/Lisbon"


def test_bad_format_and_bad_import() -> None:
    info = SessionInfo("s_1", "", "u", None, "t", "t")
    with pytest.raises(UsageError):
        export_session(info, [], "html")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        load_export("{}")
    with pytest.raises(UsageError):
        load_export("not json")
    with pytest.raises(UsageError):
        load_export(json.dumps({"format": "muxi.session", "version": 99, "session": {}}))
    assert export_session(info, [], "md").startswith("# Untitled session")


def test_muxi_server_keys_are_redacted(store: SessionStore, tmp_path: Any) -> None:
    from muxi_cli.stores.server_keys import KeyStore

    keys = KeyStore(tmp_path / "keys.json")
    secrets = [keys.create("user", "alice")[1] for _ in range(5)]
    info = store.create_session("u")
    store.add_message(info.id, "user", "my keys: " + " and ".join(secrets))
    for fmt in ("md", "json"):
        text = export_session(store.get_session(info.id), store.messages(info.id), fmt)  # type: ignore[arg-type]
        for secret in secrets:
            assert secret.split("_", 2)[2] not in text, fmt
