"""The stats tests' scripted turns (tests/stats/scripted.py), played in one
session: routing to two agents, a tool allowed, one denied, a failing tool, a
delegation, a memory recall, a router fallback; and one turn of another user."""

from __future__ import annotations

from pathlib import Path

from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.local import LocalRuntime
from tests.fakellm import FakeLLM, Text
from tests.stats.scripted import MESSAGES, USER, replies

OTHER = "bob"


async def run_session(fake: FakeLLM, config: Path) -> tuple[str, str]:
    """Alice's session id (three turns) and bob's (one turn)."""
    fake.script(
        *replies()[:7],
        # turn 3: the router answers in prose: a fallback to the default agent
        Text("writer, I suppose", usage=(4, 1)),
        Text("Once upon a time, again", usage=(5, 5)),
        Text("Hello bob", usage=(3, 2)),
    )
    rt = await LocalRuntime.open(config, user_id=USER)
    try:
        await rt.memory_add("User loves haiku about numbers", user_id=USER)
        sid: str | None = None
        for message in MESSAGES:
            turn = await rt.chat(ChatRequest(message=message, user_id=USER, session_id=sid))
            _ = [e async for e in turn.events()]
            sid = turn.session_id
        assert sid is not None
        turn = await rt.chat(ChatRequest(message="hi, I am bob", user_id=OTHER, agent="writer"))
        _ = [e async for e in turn.events()]
        return sid, turn.session_id
    finally:
        await rt.aclose()
