"""A stopped turn is stored as stopped and the next turn's prompt says so
(issue 12, finding 1): the model never gets the old request again, and its
tool is never run again."""

from __future__ import annotations

import asyncio
from typing import Any

from muxi_cli.core.history import to_messages
from muxi_cli.protocol import events as ev
from muxi_cli.protocol.records import SessionMessage
from tests.core.conftest import ScriptedTools, collect, request
from tests.fakellm import FakeLLM, Slow, Text, ToolCalls


def roles(req: dict[str, Any]) -> list[str]:
    return [m["role"] for m in req["messages"] if m["role"] != "system"]


def user_texts(req: dict[str, Any]) -> list[str]:
    return [str(m["content"]) for m in req["messages"] if m["role"] == "user"]


async def _cancel_during_tool(runtime: Any, started: asyncio.Event, message: str) -> str:
    """Run ``message`` until the tool starts, cancel, return the session id."""
    events = []
    turn = await runtime.chat(request(message))
    async for event in turn.events():
        events.append(event)
        if event.type == ev.TOOL_REQUESTED:
            await asyncio.wait_for(started.wait(), 10)
            await turn.cancel()
    assert events[-1].type == ev.RUN_FAILED and events[-1].error["code"] == "cancelled"
    return events[0].session_id


async def test_cancel_during_a_tool_is_stored_and_shown_to_the_model(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools
):
    started = asyncio.Event()

    async def slow(_args: dict[str, Any]) -> str:
        started.set()
        await asyncio.sleep(30)
        return "slow result"

    tools.add("slow", slow)
    fake_llm.script(ToolCalls([("slow", {})]), Text("Paris."))
    runtime = make_runtime()
    session_id = await _cancel_during_tool(runtime, started, "CALL_TOOL slow please")

    stored = await runtime.messages(session_id)
    assert [(m.role, m.status) for m in stored] == [
        ("user", "complete"),
        ("assistant", "complete"),  # the answer that asked for the tool
        ("tool", "complete"),
        ("assistant", "cancelled"),  # the marker: this turn was stopped
    ]
    assert stored[2].meta["cancelled"] is True and stored[2].meta["ok"] is False
    assert "Cancelled by the user" in stored[2].content

    events = await collect(
        runtime.chat(request("what is the capital of France", session_id=session_id))
    )
    assert events[-1].type == ev.RUN_COMPLETED and events[-1].text == "Paris."
    assert len(tools.calls) == 1  # the old tool did not run again
    sent = fake_llm.requests[-1]
    assert roles(sent) == ["user", "assistant", "tool", "assistant", "user"]
    assert user_texts(sent) == ["CALL_TOOL slow please", "what is the capital of France"]
    tool_msg = next(m for m in sent["messages"] if m["role"] == "tool")
    assert "Cancelled by the user" in tool_msg["content"]
    note = [m for m in sent["messages"] if m["role"] == "assistant"][-1]["content"]
    assert "cancelled this request" in note


async def test_cancel_before_any_answer_leaves_a_marker(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(Slow("never seen", delay=5), Text("fine"))
    runtime = make_runtime()
    stream = await runtime.chat(request("first question"))
    got = []
    events = stream.events()  # held: a dropped events() iterator closes the turn
    async for event in events:
        got.append(event)
        if event.type == ev.AGENT_ROUTED:
            break
    await asyncio.to_thread(fake_llm.wait_for_requests, 1)  # the model call is under way
    await stream.aclose()
    session_id = got[0].session_id
    stored = await runtime.messages(session_id)
    assert [(m.role, m.status) for m in stored][-1] == ("assistant", "cancelled")

    await collect(runtime.chat(request("second question", session_id=session_id)))
    sent = fake_llm.requests[-1]
    # Two user messages, not one holding both texts, with the note between them.
    assert user_texts(sent) == ["first question", "second question"]
    assert roles(sent) == ["user", "assistant", "user"]


async def test_turn_timeout_is_stored_as_timed_out(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools
):
    async def slow(_args: dict[str, Any]) -> str:
        await asyncio.sleep(30)
        return "late"

    tools.add("slow", slow)
    fake_llm.script(ToolCalls([("slow", {})]), Text("ok"))
    runtime = make_runtime("turn_timeout: 1\n")
    events = await collect(runtime.chat(request("slow one")))
    assert events[-1].error["code"] == "timeout"
    stored = await runtime.messages(events[0].session_id)
    assert stored[-1].status == "cancelled" and stored[-1].meta["stopped"] == "timeout"
    assert "timed out" in stored[-2].content
    await collect(runtime.chat(request("next", session_id=events[0].session_id)))
    note = [m for m in fake_llm.requests[-1]["messages"] if m["role"] == "assistant"][-1]
    assert "turn timeout" in note["content"]


async def test_approval_pending_cancel_stores_the_call_as_cancelled(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools
):
    tools.add("rm", lambda _a: "removed", policy="ask")
    fake_llm.script(ToolCalls([("rm", {"path": "x"})]), Text("ok"))
    runtime = make_runtime()
    events = []
    turn = await runtime.chat(request("remove x", approval="interactive"))
    async for event in turn.events():
        events.append(event)
        if isinstance(event, ev.ToolApproval) and event.decision == "pending":
            await turn.cancel()
    session_id = events[0].session_id
    await collect(runtime.chat(request("hello again", session_id=session_id)))
    assert tools.calls == []  # never approved, never run, not even on the next turn
    sent = fake_llm.requests[-1]
    assert roles(sent) == ["user", "assistant", "tool", "assistant", "user"]
    assert user_texts(sent)[-1] == "hello again"


async def test_memory_extraction_skips_a_cancelled_request():
    def msg(i: int, role: str, content: str, status: str = "complete") -> SessionMessage:
        return SessionMessage(
            id=i, session_id="s", seq=i, role=role, content=content, status=status, run_id=f"r{i}"
        )

    stored = [
        msg(1, "user", "my name is Bob"),
        msg(2, "assistant", "", "cancelled"),
        msg(3, "user", "hi"),
        msg(4, "assistant", "hello"),
    ]
    kept = to_messages(stored, 1000, stopped="drop")
    assert [m.content for m in kept] == ["hi", "hello"]
    noted = to_messages(stored, 1000)
    assert [m.role for m in noted] == ["user", "assistant", "user", "assistant"]
    assert "cancelled" in noted[1].content


def test_a_failed_turn_is_not_merged_into_the_next():
    def msg(i: int, role: str, content: str, status: str = "complete") -> SessionMessage:
        return SessionMessage(
            id=i, session_id="s", seq=i, role=role, content=content, status=status
        )

    out = to_messages([msg(1, "user", "one"), msg(2, "user", "two")], 1000)
    assert [(m.role, m.content[:3]) for m in out] == [
        ("user", "one"),
        ("assistant", "[No"),
        ("user", "two"),
    ]


def test_a_crash_during_a_tool_is_closed_too():
    """No status was written (the process died while the tool ran): the open
    call still gets a result and the turn a note, instead of both requests
    reaching the model as one message."""
    rows = [
        SessionMessage(id=1, session_id="s", seq=1, role="user", content="slow thing"),
        SessionMessage(
            id=2,
            session_id="s",
            seq=2,
            role="assistant",
            content="",
            tool_calls=[{"id": "c1", "name": "slow", "arguments": {}}],
        ),
        SessionMessage(id=3, session_id="s", seq=3, role="user", content="new question"),
    ]
    out = to_messages(rows, 1000)
    assert [m.role for m in out] == ["user", "assistant", "tool", "assistant", "user"]
    assert out[2].tool_call_id == "c1" and out[2].is_error
    assert "cut off" in out[3].content


async def test_cancel_inside_a_delegated_agent_closes_the_parent_call(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools
):
    started = asyncio.Event()

    async def slow(_args: dict[str, Any]) -> str:
        started.set()
        await asyncio.sleep(30)
        return "slow result"

    tools.add("slow", slow)
    fake_llm.script(
        ToolCalls([("ask_helper", {"question": "look it up"})]),  # the main agent delegates
        ToolCalls([("slow", {})]),  # the helper calls the slow tool
        Text("Paris."),
    )
    runtime = make_runtime(
        "agents:\n  - name: main\n    delegates: [helper]\n"
        "  - name: helper\n    description: looks things up\n"
    )
    events = []
    turn = await runtime.chat(request("CALL_TOOL via helper", agent="main"))
    async for event in turn.events():
        events.append(event)
        if event.type == ev.TOOL_REQUESTED and event.nested:
            await asyncio.wait_for(started.wait(), 10)
            await turn.cancel()
    session_id = events[0].session_id
    stored = await runtime.messages(session_id)
    assert [(m.role, m.status) for m in stored][-2:] == [
        ("tool", "complete"),
        ("assistant", "cancelled"),
    ]
    assert stored[-2].meta["name"] == "ask_helper" and stored[-2].meta["cancelled"] is True

    await collect(runtime.chat(request("capital of France?", session_id=session_id, agent="main")))
    assert len(tools.calls) == 1
    sent = fake_llm.requests[-1]
    assert roles(sent) == ["user", "assistant", "tool", "assistant", "user"]
    assert user_texts(sent) == ["CALL_TOOL via helper", "capital of France?"]
