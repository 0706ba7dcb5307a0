"""A chat turn through the real LocalRuntime: recall event, then extraction afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakellm import JSONReply, Text

local = pytest.importorskip("muxi_cli.runtime.local")


async def test_turn_recalls_and_extracts(fake_llm: Any, tmp_path: Path) -> None:
    from muxi_cli.protocol.records import ChatRequest

    extra = (
        "memory:\n  embedding: hash\n"
        "agents:\n  - name: assistant\n    memory:\n      extract_every: 2\n"
    )
    path = fake_llm.write_formation(tmp_path, extra=extra)
    runtime = await local.LocalRuntime.open(
        config_path=str(path), start_tools=False, user_id="alice"
    )
    try:
        tea = await runtime.memory_add("User likes green tea", user_id="alice")
        await runtime.memory_add("User likes black coffee", user_id="bob")
        fake_llm.script(
            Text("Green tea, Rui."),
            JSONReply({"facts": [{"text": "User is called Rui", "importance": 0.8}]}),
        )
        events = [
            e
            async for e in (
                await runtime.chat(
                    ChatRequest(message="I'm Rui. Which tea do I like?", user_id="alice")
                )
            ).events()
        ]
        recalled = next(e for e in events if e.type == "memory.recalled")
        assert [i["id"] for i in recalled.items] == [tea.id]
        system = str(fake_llm.requests[0]["messages"][0]["content"])
        assert "User likes green tea" in system and "black coffee" not in system
        await runtime.orchestrator.drain()
        texts = {m.text for m in await runtime.memory_list(user_id="alice")}
        assert texts == {"User likes green tea", "User is called Rui"}
        assert {m.text for m in await runtime.memory_list(user_id="bob")} == {
            "User likes black coffee"
        }
    finally:
        await runtime.aclose()


async def test_deleting_a_session_drops_its_summary(fake_llm: Any, tmp_path: Path) -> None:
    from muxi_cli.protocol.records import ChatRequest

    extra = (
        "memory:\n  embedding: hash\n"
        "agents:\n  - name: assistant\n    memory:\n      long_term: false\n"
        "      buffer_tokens: 60\n"
    )
    path = fake_llm.write_formation(tmp_path, extra=extra)
    runtime = await local.LocalRuntime.open(
        config_path=str(path), start_tools=False, user_id="alice"
    )
    try:
        fake_llm.set_default(Text("A long enough answer " * 8))
        sid = ""
        for word in ("first", "second", "third"):
            events = [
                e
                async for e in (
                    await runtime.chat(
                        ChatRequest(message=f"the {word} question " * 8, session_id=sid or None)
                    )
                ).events()
            ]
            sid = events[0].session_id
        states = await runtime.memory.states()
        assert await states.get(sid) is not None  # the buffer kept a running summary
        await runtime.delete_session(sid)
        assert await states.get(sid) is None
    finally:
        await runtime.aclose()
