"""The blocking Client: in a plain script, and inside a running event loop
(what a Jupyter cell is), where ``asyncio.run`` would refuse."""

from __future__ import annotations

import asyncio
import inspect
import threading

import pytest

from muxi_cli.client import Client, SyncTurn, TurnResult, errors
from muxi_cli.protocol import events as ev
from tests.client.conftest import Served
from tests.fakellm import Slow, Text, ToolCalls


def client_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "muxi-client"]


def test_a_script(served: Served) -> None:
    served.llm.reset()
    before = len(client_threads())
    served.llm.script(Text("hello from sync", chunks=3))
    with Client(served.url, served.user_key) as c:
        turn = c.chat("hi")
        assert isinstance(turn, SyncTurn) and turn.run_id and turn.session_id
        seen = list(turn)
        assert seen[-1].type == ev.RUN_COMPLETED
        result = turn.result()
        assert isinstance(result, TurnResult) and result.reply == "hello from sync"
        assert c.sessions.get(turn.session_id)["id"] == turn.session_id
        assert [e.type for e in c.runs.events(turn.run_id)] == [e.type for e in seen]
        with pytest.raises(errors.NotFound):
            c.sessions.get("ses_nope")
    assert len(client_threads()) == before  # close() stopped its thread
    with pytest.raises(RuntimeError, match="closed"):
        c.me()


async def test_inside_a_running_loop(served: Served) -> None:
    """As in a notebook: the caller's loop runs; the client brings its own."""
    served.llm.reset()
    asyncio.get_running_loop()  # there is one
    served.llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("it is 42"))
    with Client(served.url, served.user_key) as c:
        assert c.me()["user_id"] == "alice"
        with c.chat("6*7?", approval="interactive") as turn:
            for event in turn:
                if isinstance(event, ev.ToolApproval) and event.decision == "pending":
                    turn.approve(event.call_id, "allow")
            assert turn.result().reply == "it is 42"
        served.llm.script(Slow("one two three four five six", delay=0.3))
        turn = c.chat("slowly")
        for event in turn:
            if isinstance(event, ev.TextDelta):
                turn.cancel()
        assert turn.result().status == "cancelled"
        ref = c.media.upload(b"hello\n", name="h.txt", media_type="text/plain")
        assert c.media.download(ref["id"]) == b"hello\n"


async def test_awaiting_a_sync_turn_unread(served: Served) -> None:
    served.llm.reset()
    served.llm.script(Text("straight to the result"))
    with Client(served.url, served.user_key) as c:
        assert c.chat("hi").result().reply == "straight to the result"


def test_the_blocking_groups_match_the_async_ones() -> None:
    """Same methods, same parameters and defaults: spelled out, so checked here."""
    c = Client("http://127.0.0.1:9", "muxi_x")
    try:
        for name in ("sessions", "memory", "media", "keys", "runs", "mcp"):
            sync_group, async_group = getattr(c, name), getattr(c.aio, name)
            public = {m for m in dir(async_group) if not m.startswith("_")}
            assert public == {m for m in dir(sync_group) if not m.startswith("_")}, name
            for method in public:
                a = inspect.signature(getattr(async_group, method)).parameters
                s = inspect.signature(getattr(sync_group, method)).parameters
                assert [(p.name, p.default) for p in a.values()] == [
                    (p.name, p.default) for p in s.values()
                ], f"{name}.{method}"
        for method in ("chat", "me", "health", "agents"):
            a = inspect.signature(getattr(c.aio, method)).parameters
            s = inspect.signature(getattr(c, method)).parameters
            assert list(a) == list(s), method
    finally:
        c.close()
