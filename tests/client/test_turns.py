"""Turns through the Python client against a real ``muxi serve``: streamed over
SSE and the WebSocket, iterated and awaited, approved, cancelled, replayed."""

from __future__ import annotations

import asyncio

import pytest

from muxi_cli.client import AsyncClient, ChatTurn, TurnResult
from muxi_cli.protocol import events as ev
from tests.client.conftest import Served
from tests.fakellm import Slow, Text, ToolCalls


def types(events: list[ev.Event]) -> list[str]:
    return [e.type for e in events if not e.nested]


async def test_a_streamed_turn_is_iterated_then_awaited(
    client: AsyncClient, served: Served
) -> None:
    served.llm.script(Text("hello there, friend", chunks=3))
    turn = await client.chat("hi")
    assert isinstance(turn, ChatTurn) and turn.transport == "sse"
    assert turn.run_id.startswith("run") and turn.session_id  # known before any event
    seen = [event async for event in turn]
    assert types(seen)[0] == ev.RUN_STARTED and types(seen)[-1] == ev.RUN_COMPLETED
    assert "".join(e.text for e in seen if isinstance(e, ev.TextDelta)) == "hello there, friend"
    result = await turn
    assert isinstance(result, TurnResult)
    assert (result.status, result.reply, result.agent) == (
        "completed",
        "hello there, friend",
        "assistant",
    )
    assert result.run_id == turn.run_id and result.session_id == turn.session_id
    assert result.events == seen and result.error is None and result.ok
    assert result.usage["input_tokens"] >= 0


async def test_a_turn_awaited_unread_and_one_read_halfway(
    client: AsyncClient, served: Served
) -> None:
    served.llm.script(Text("first answer"), Text("second answer", chunks=4))
    first = await (await client.chat("one"))
    assert first.reply == "first answer"
    turn = await client.chat("two", session_id=first.session_id)
    assert turn.session_id == first.session_id
    async for event in turn:
        if isinstance(event, ev.TextDelta):
            break  # the rest is read by result()
    result = await turn.result()
    assert result.reply == "second answer" and result.status == "completed"
    assert types(result.events)[-1] == ev.RUN_COMPLETED
    assert (await turn.result()).reply == "second answer"  # any number of times


async def test_interactive_approval_runs_over_the_websocket(
    client: AsyncClient, served: Served
) -> None:
    served.llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("it is 42"))
    async with await client.chat("what is 6*7?", approval="interactive") as turn:
        assert turn.transport == "ws"
        async for event in turn:
            if isinstance(event, ev.ToolApproval) and event.decision == "pending":
                assert turn.pending() == [(event.run_id, event.call_id)]
                await turn.approve(event.call_id, "allow")
        result = await turn
    assert result.status == "completed" and result.reply == "it is 42"
    [call] = result.tool_calls
    assert (call["tool"], call["decision"], call["ok"]) == ("calculator", "allowed", True)
    assert "42" in call["content"]


async def test_approval_deny_refuses_the_tool_on_either_transport(
    client: AsyncClient, served: Served
) -> None:
    for transport in ("sse", "ws"):
        served.llm.script(ToolCalls([("calculator", {"expression": "1+1"})]), Text("no tool"))
        result = await (await client.chat("1+1?", approval="deny", transport=transport))
        assert result.status == "completed", result.error
        assert [c["decision"] for c in result.tool_calls] == ["denied"]


async def test_cancel_mid_stream(client: AsyncClient, served: Served) -> None:
    for transport in ("sse", "ws"):
        served.llm.script(Slow("one two three four five six seven eight", delay=0.3))
        turn = await client.chat("count slowly", transport=transport)
        async for event in turn:
            if isinstance(event, ev.TextDelta):
                await turn.cancel()
        result = await turn
        assert result.status == "cancelled", (transport, result)
        assert result.error is not None and result.error["code"] == "cancelled"
        assert types(result.events)[-1] == ev.RUN_FAILED


async def test_a_turn_closed_before_its_end_is_incomplete(
    client: AsyncClient, served: Served
) -> None:
    # No closing event was read: neither completed nor failed as far as the
    # caller knows (the TypeScript client says the same).
    for transport in ("sse", "ws"):
        served.llm.script(Slow("one two three four five six seven eight", delay=0.3))
        turn = await client.chat("count slowly", transport=transport)
        async for event in turn:
            if isinstance(event, ev.TextDelta):
                break
        await turn.aclose()
        result = await turn
        assert (result.status, result.error, result.ok) == ("incomplete", None, False), transport
        assert result.reply and result.agent == "assistant"
        assert types(result.events)[-1] == ev.TEXT_DELTA


async def test_runs_events_replays_a_finished_run(client: AsyncClient, served: Served) -> None:
    served.llm.script(Text("replay me", chunks=2))
    done = await (await client.chat("hi"))
    replay = [e async for e in client.runs.events(done.run_id)]
    assert types(replay) == types(done.events)
    later = [e async for e in client.runs.events(done.run_id, after=2)]
    assert types(later) == types(done.events)[2:]


async def test_media_is_attached_by_its_reference(client: AsyncClient, served: Served) -> None:
    ref = await client.media.upload(b"the secret word is pineapple\n", name="note.txt")
    served.llm.script(Text("read it"))
    result = await (await client.chat("what does the note say?", attachments=[ref]))
    assert result.status == "completed"
    sent = str(served.llm.last_request)
    assert "pineapple" in sent


async def test_one_task_reads_another_awaits(client: AsyncClient, served: Served) -> None:
    served.llm.script(Slow("a b c d", delay=0.05))
    turn = await client.chat("hi")

    started = asyncio.Event()

    async def read() -> list[ev.Event]:
        out = []
        async for e in turn:
            out.append(e)
            started.set()  # then it goes on waiting for the next event
        return out

    reader = asyncio.create_task(read())
    await started.wait()
    with pytest.raises(RuntimeError, match="another task"):
        await anext(turn)
    result = await turn  # waits for the reader instead of competing with it
    assert result.events == await reader and result.reply.split() == ["a", "b", "c", "d"]
