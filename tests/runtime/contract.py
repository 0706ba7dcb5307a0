"""The Runtime contract: what every :class:`Runtime` must do, local or remote.

A test module subclasses :class:`RuntimeContract` and provides a ``harness``
fixture (a :class:`Harness`): the runtime under test plus the fake LLM server
its agents talk to. The formation it serves must be :func:`formation_yaml`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from muxi_cli.errors import NotFoundError
from muxi_cli.protocol import events as ev
from muxi_cli.protocol.events import AgentRouted, Event, RunCompleted
from muxi_cli.protocol.live import LiveReport
from muxi_cli.protocol.records import ApprovalMode, ChatRequest
from muxi_cli.protocol.turn import Turn
from muxi_cli.runtime.base import Runtime
from tests.fakellm import FakeLLM, Slow, Text, ToolCalls

#: Extra formation YAML: one agent with the calculator, which needs approval.
FORMATION_EXTRA = """
agents:
  - name: assistant
    description: The contract agent
    tools:
      - builtin: calculator
        approval: ask
"""


def formation_yaml(fake: FakeLLM) -> str:
    return fake.formation_yaml(extra=FORMATION_EXTRA)


@dataclass
class Harness:
    runtime: Runtime
    llm: FakeLLM
    #: "local" or "remote" (what health().mode must say).
    mode: str

    def script_slow(self) -> None:
        """The next turn streams several words, slowly (time to cancel it)."""
        self.llm.script(Slow("one two three four five six seven eight", delay=0.3))

    def script_ask(self) -> None:
        """The next turn calls a tool that asks for approval, then answers."""
        self.llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("it is 42"))


async def collect(turn: Turn, on: Callable[[Event], Awaitable[None]] | None = None) -> list[Event]:
    out: list[Event] = []
    async with turn:
        async for event in turn.events():
            out.append(event)
            if on is not None:
                await on(event)
    return out


async def chat(rt: Runtime, request: ChatRequest) -> list[Event]:
    return await collect(await rt.chat(request))


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll an async condition until it holds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def top(events: list[Event]) -> list[Event]:
    return [e for e in events if not e.nested]


class TurnContract:
    """What every :class:`Turn` must do, the real runtimes' and the fakes' alike.

    Subclass in a test module and provide the ``harness`` fixture; the fakes
    override :meth:`Harness.script_slow` and :meth:`Harness.script_ask`. Turns
    without a tool run with both approval modes: a remote runtime streams
    ``interactive`` turns over its WebSocket and the others over SSE.
    """

    @pytest.fixture(params=["deny", "interactive"])
    def approval(self, request: pytest.FixtureRequest) -> ApprovalMode:
        return request.param  # type: ignore[no-any-return]

    async def test_ids_are_known_before_the_first_event(
        self, harness: Harness, approval: ApprovalMode
    ) -> None:
        harness.script_slow()
        turn = await harness.runtime.chat(ChatRequest(message="hi", approval=approval))
        run_id, session_id = turn.run_id, turn.session_id
        assert run_id and session_id and not turn.finished
        events = top(await collect(turn))
        assert {e.run_id for e in events} == {run_id}
        assert {e.session_id for e in events} == {session_id}
        assert events[0].type == ev.RUN_STARTED and events[-1].type == ev.RUN_COMPLETED
        assert turn.finished
        assert session_id in [s.id for s in await harness.runtime.sessions()]

    async def test_cancel_stops_the_stream_and_stores_cancelled(
        self, harness: Harness, approval: ApprovalMode
    ) -> None:
        rt = harness.runtime
        harness.script_slow()
        turn = await rt.chat(ChatRequest(message="count slowly", approval=approval))
        seen: list[Event] = []
        async for event in turn.events():
            seen.append(event)
            if event.type == ev.TEXT_DELTA:
                await turn.cancel()
                await turn.cancel()  # twice is harmless
        ends = [e for e in top(seen) if e.type in (ev.RUN_COMPLETED, ev.RUN_FAILED)]
        assert [e.type for e in ends] == [ev.RUN_FAILED] and ends[0] is seen[-1]
        assert ends[0].error["code"] == "cancelled"
        assert turn.finished
        await turn.cancel()  # after the end: nothing to do

        async def marked() -> bool:
            msgs = [m for m in await rt.messages(turn.session_id) if m.role == "assistant"]
            return bool(msgs) and msgs[-1].status == "cancelled"

        await wait_for(marked)

    async def test_cancel_at_once_still_ends_the_stream(
        self, harness: Harness, approval: ApprovalMode
    ) -> None:
        """A cancel before the turn's task ever ran (an immediate Ctrl-C) must not
        leave ``events()`` waiting forever: it ends with ``run.failed``."""
        harness.script_slow()
        turn = await harness.runtime.chat(ChatRequest(message="hi", approval=approval))
        await turn.cancel()
        events = await asyncio.wait_for(collect(turn), timeout=10)
        assert events and events[-1].type == ev.RUN_FAILED
        assert turn.finished

    async def test_approve_resolves_a_pending_ask_tool(self, harness: Harness) -> None:
        harness.script_ask()
        turn = await harness.runtime.chat(ChatRequest(message="6*7?", approval="interactive"))
        pending: list[tuple[str, str]] = []

        async def on(event: Event) -> None:
            if isinstance(event, ev.ToolApproval) and event.decision == "pending":
                pending.extend(turn.pending())
                with pytest.raises(NotFoundError):
                    await turn.approve("call_nobody_made", "allow")
                await turn.approve(event.call_id, "allow")
                assert turn.pending() == []

        events = top(await collect(turn, on))
        assert len(pending) == 1 and pending[0][0] == turn.run_id
        approvals = [e.decision for e in events if e.type == ev.TOOL_APPROVAL]
        assert approvals == ["pending", "allowed"]
        assert events[-1].type == ev.RUN_COMPLETED
        with pytest.raises(NotFoundError):  # decided already
            await turn.approve(pending[0][1], "allow")

    async def test_aclose_cancels_and_is_idempotent(
        self, harness: Harness, approval: ApprovalMode
    ) -> None:
        rt = harness.runtime
        harness.script_slow()
        async with await rt.chat(ChatRequest(message="count slowly", approval=approval)) as turn:
            async for event in turn.events():
                if event.type == ev.TEXT_DELTA:
                    break
            await turn.aclose()
            assert turn.finished
            await turn.aclose()
        await turn.aclose()
        await turn.cancel()

        async def marked() -> bool:
            msgs = [m for m in await rt.messages(turn.session_id) if m.role == "assistant"]
            return bool(msgs) and msgs[-1].status == "cancelled"

        await wait_for(marked)

    async def test_events_has_a_single_consumer(
        self, harness: Harness, approval: ApprovalMode
    ) -> None:
        harness.script_slow()
        request = ChatRequest(message="once", approval=approval)
        async with await harness.runtime.chat(request) as turn:
            turn.events()
            with pytest.raises(RuntimeError):
                turn.events()


class RuntimeContract(TurnContract):
    """Subclass in a test module and provide the ``harness`` fixture."""

    async def test_chat_streams_events_in_order(self, harness: Harness) -> None:
        harness.llm.script(Text("hello there contract world"))
        events = top(await chat(harness.runtime, ChatRequest(message="hi", approval="deny")))
        types = [e.type for e in events]
        assert types[0] == ev.RUN_STARTED
        assert types[1] == ev.AGENT_ROUTED
        assert types[-1] == ev.RUN_COMPLETED
        assert types[-2] == ev.USAGE or ev.USAGE in types
        deltas = [e for e in events if e.type == ev.TEXT_DELTA]
        assert deltas and types.index(ev.TEXT_DELTA) > 1
        assert types.index(ev.USAGE) > types.index(ev.TEXT_DELTA)
        assert {e.run_id for e in events} == {events[0].run_id}
        assert {e.session_id for e in events} == {events[0].session_id}
        assert events[0].run_id and events[0].session_id
        text = "".join(e.text for e in deltas)
        assert isinstance(events[-1], RunCompleted) and isinstance(events[1], AgentRouted)
        assert text == events[-1].text == "hello there contract world"
        assert events[1].agent == "assistant"
        assert all(e.v == ev.SCHEMA_VERSION and e.ts for e in events)

    async def test_stats_count_a_finished_turn(self, harness: Harness) -> None:
        rt = harness.runtime
        before = await rt.stats()
        harness.llm.script(Text("counted answer"))
        await chat(rt, ChatRequest(message="count me", approval="deny"))

        async def counted() -> bool:
            return (await rt.stats()).totals.turns == before.totals.turns + 1

        await wait_for(counted)
        after = await rt.stats(by="agent")
        assert "assistant" in {g.key for g in after.groups}
        assert after.totals.input_tokens > before.totals.input_tokens
        assert (await rt.stats(since="2999-01-01")).totals.turns == 0

    async def test_live_lists_a_run_in_flight_with_its_tool_until_it_ends(
        self, harness: Harness
    ) -> None:
        rt = harness.runtime
        harness.script_ask()
        turn = await rt.chat(ChatRequest(message="6*7?", approval="interactive"))
        seen: list[LiveReport] = []

        async def on(event: Event) -> None:
            if isinstance(event, ev.ToolApproval) and event.decision == "pending":
                seen.append(await rt.live())
                await turn.approve(event.call_id, "allow")

        await collect(turn, on)
        (report,) = seen
        (run,) = [r for r in report.runs if r.run_id == turn.run_id]
        assert run.agent == "assistant" and not run.parent_run_id and run.started
        assert run.tool is not None
        assert (run.tool.tool, run.tool.state, run.tool_calls) == ("calculator", "approval", 1)
        # A local caller sees every user's runs, with ids; a user key its own, without.
        assert (run.user_id is not None) is (harness.mode == "local") is report.all_users
        assert turn.run_id not in [r.run_id for r in (await rt.live()).runs]

    async def test_session_is_saved_listed_exported_renamed_deleted(self, harness: Harness) -> None:
        rt = harness.runtime
        harness.llm.script(Text("saved answer"))
        events = await chat(rt, ChatRequest(message="remember this turn"))
        sid = events[0].session_id
        assert sid in [s.id for s in await rt.sessions()]
        info = await rt.session(sid)
        assert info.id == sid and info.message_count >= 2
        msgs = await rt.messages(sid)
        assert [(m.role, m.content) for m in msgs if m.role in ("user", "assistant")] == [
            ("user", "remember this turn"),
            ("assistant", "saved answer"),
        ]
        md = await rt.export_session(sid, "md")
        assert "remember this turn" in md and "saved answer" in md
        data = json.loads(await rt.export_session(sid, "json"))
        assert "saved answer" in json.dumps(data)
        renamed = await rt.rename_session(sid, "A new title")
        assert renamed.title == "A new title" == (await rt.session(sid)).title
        assert any(s.title == "A new title" for s in await rt.sessions(query="new title"))
        await rt.delete_session(sid)
        with pytest.raises(NotFoundError):
            await rt.session(sid)
        assert sid not in [s.id for s in await rt.sessions()]

    async def test_timeline_has_each_finished_turn(self, harness: Harness) -> None:
        rt = harness.runtime
        harness.llm.script(Text("first answer"), Text("second answer"))
        first = await chat(rt, ChatRequest(message="first question\nmore", approval="deny"))
        sid = first[0].session_id
        second = await chat(rt, ChatRequest(message="next", session_id=sid, approval="deny"))

        async def recorded() -> bool:
            return len(await rt.timeline(sid)) == 2

        await wait_for(recorded)
        assert [(t.run_id, t.agent, t.status, t.message) for t in await rt.timeline(sid)] == [
            (first[0].run_id, "assistant", "completed", "first question"),
            (second[0].run_id, "assistant", "completed", "next"),
        ]
        with pytest.raises(NotFoundError):
            await rt.timeline("s_doesnotexist")

    async def test_continuing_a_session(self, harness: Harness) -> None:
        rt = harness.runtime
        harness.llm.script(Text("first answer"), Text("second answer"))
        first = await chat(rt, ChatRequest(message="first question"))
        sid = first[0].session_id
        second = await chat(rt, ChatRequest(message="second question", session_id=sid))
        assert {e.session_id for e in second} == {sid}
        assert second[0].run_id != first[0].run_id
        sent = json.dumps(harness.llm.last_request["messages"])
        assert "first question" in sent and "first answer" in sent and "second question" in sent
        roles = [m.role for m in await rt.messages(sid) if m.role in ("user", "assistant")]
        assert roles == ["user", "assistant", "user", "assistant"]

    async def test_closing_the_stream_cancels_and_keeps_the_partial_reply(
        self, harness: Harness
    ) -> None:
        rt = harness.runtime
        harness.llm.script(Slow("one two three four five six seven eight", delay=0.3))
        turn = await rt.chat(ChatRequest(message="count slowly"))
        sid = turn.session_id
        async for event in turn.events():
            if event.type == ev.TEXT_DELTA:
                break
        await turn.aclose()

        async def saved() -> bool:
            msgs = [m for m in await rt.messages(sid) if m.role == "assistant"]
            return bool(msgs) and msgs[-1].status != "streaming" and msgs[-1].content != ""

        await wait_for(saved)
        reply = [m for m in await rt.messages(sid) if m.role == "assistant"][-1]
        assert reply.content.startswith("one")
        assert reply.content != "one two three four five six seven eight"
        assert reply.status != "complete"

    async def test_cancel_through_the_turn(self, harness: Harness) -> None:
        rt = harness.runtime
        harness.llm.script(Slow("a b c d e f g h i j", delay=0.3))
        turn = await rt.chat(ChatRequest(message="go"))

        async def on(event: Event) -> None:
            if event.type == ev.TEXT_DELTA and not event.nested:
                await turn.cancel()

        events = top(await collect(turn, on))
        assert events[-1].type == ev.RUN_FAILED
        assert events[-1].error["code"] == "cancelled"
        msgs = [m for m in await rt.messages(events[0].session_id) if m.role == "assistant"]
        assert msgs and msgs[-1].content.startswith("a")

    async def test_a_cancelled_turn_is_closed_for_the_next_turn(self, harness: Harness) -> None:
        """Cancelled at the approval prompt (issue 12): stored as cancelled, and
        the next turn's prompt shows it closed; the tool never runs."""
        rt = harness.runtime
        harness.llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("Hello."))

        request = ChatRequest(message="six times seven", approval="interactive")
        turn = await rt.chat(request)

        async def on(event: Event) -> None:
            if isinstance(event, ev.ToolApproval) and event.decision == "pending":
                await turn.cancel()

        events = top(await collect(turn, on))
        assert events[-1].error["code"] == "cancelled"
        sid = events[0].session_id

        async def marked() -> bool:
            return [m.status for m in await rt.messages(sid)][-1:] == ["cancelled"]

        await wait_for(marked)
        stored = await rt.messages(sid)
        assert [(m.role, m.status) for m in stored] == [
            ("user", "complete"),
            ("assistant", "complete"),
            ("tool", "complete"),
            ("assistant", "cancelled"),
        ]
        assert stored[2].meta["cancelled"] is True

        again = top(await chat(rt, ChatRequest(message="hello again", session_id=sid)))
        assert again[-1].type == ev.RUN_COMPLETED and again[-1].text == "Hello."
        sent = [m for m in harness.llm.last_request["messages"] if m["role"] != "system"]
        assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
        assert sent[0]["content"] == "six times seven"
        assert sent[-1]["content"] == "hello again"
        assert "Cancelled by the user" in sent[2]["content"]
        assert "cancelled this request" in sent[3]["content"]
        # The calculator never ran: its only result is the stored cancellation.
        assert [m["role"] for m in sent].count("tool") == 1
        assert not any(e.type == ev.TOOL_RESULT for e in events)

    async def test_a_dropped_stream_is_stored_as_cancelled(self, harness: Harness) -> None:
        rt = harness.runtime
        harness.llm.script(Slow("one two three four five six seven eight", delay=0.3))
        turn = await rt.chat(ChatRequest(message="count slowly"))
        sid = turn.session_id
        async for event in turn.events():
            if event.type == ev.TEXT_DELTA:
                break
        await turn.aclose()

        async def marked() -> bool:
            return [m.status for m in await rt.messages(sid)][-1:] == ["cancelled"]

        await wait_for(marked)
        harness.llm.script(Text("fine"))
        await chat(rt, ChatRequest(message="next one", session_id=sid))
        sent = [m for m in harness.llm.last_request["messages"] if m["role"] != "system"]
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]
        assert sent[1]["content"].startswith("one")
        assert "cancelled this request" in sent[1]["content"]

    async def test_tool_approval_round_trip(self, harness: Harness) -> None:
        rt = harness.runtime
        harness.llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("it is 42"))

        turn = await rt.chat(ChatRequest(message="6*7?", approval="interactive"))

        async def on(event: Event) -> None:
            if isinstance(event, ev.ToolApproval) and event.decision == "pending":
                await turn.approve(event.call_id, "allow")

        events = top(await collect(turn, on))
        req = next(e for e in events if e.type == ev.TOOL_REQUESTED)
        assert req.tool == "calculator" and req.arguments == {"expression": "6*7"}
        approvals = [(e.decision, e.by) for e in events if e.type == ev.TOOL_APPROVAL]
        assert approvals == [("pending", "user"), ("allowed", "user")]
        result = next(e for e in events if e.type == ev.TOOL_RESULT)
        assert result.ok is True and "42" in str(result.content)
        assert result.call_id == req.call_id
        assert events[-1].type == ev.RUN_COMPLETED and events[-1].text == "it is 42"

    async def test_tool_denied_without_asking(self, harness: Harness) -> None:
        rt = harness.runtime
        harness.llm.script(ToolCalls([("calculator", {"expression": "1+1"})]), Text("no tool then"))
        events = top(await chat(rt, ChatRequest(message="1+1?", approval="deny")))
        approvals = [(e.decision, e.by) for e in events if e.type == ev.TOOL_APPROVAL]
        assert approvals == [("denied", "policy")]
        assert events[-1].type == ev.RUN_COMPLETED

    async def test_memory_add_list_search_forget(self, harness: Harness) -> None:
        rt = harness.runtime
        item = await rt.memory_add("The user's favourite drink is green tea")
        assert item.id and item.kind == "fact"
        assert item.id in [m.id for m in await rt.memory_list()]
        found = await rt.memory_search("favourite drink green tea")
        assert item.id in [m.id for m in found]
        # By id and by a unique prefix: no listing (a remote server caps list limits).
        assert (await rt.memory_get(item.id)).text == item.text
        assert (await rt.memory_get(item.id[:8])).id == item.id
        await rt.memory_forget(item.id[:8])
        assert item.id not in [m.id for m in await rt.memory_list()]
        with pytest.raises(NotFoundError):
            await rt.memory_get(item.id)

    async def test_agents_tools_servers_health(self, harness: Harness) -> None:
        rt = harness.runtime
        agents = await rt.agents()
        assert [a.name for a in agents] == ["assistant"]
        assert agents[0].default and agents[0].description == "The contract agent"
        tools = await rt.tools()
        calc = next(t for t in tools if t.tool == "calculator")
        assert calc.policy == "ask" and "assistant" in calc.agents
        assert isinstance(await rt.mcp_servers(), list)
        health = await rt.health()
        assert health.ok and health.default_agent == "assistant"
        assert health.mode == harness.mode
        assert rt.label

    async def test_unknown_session_is_not_found(self, harness: Harness) -> None:
        rt = harness.runtime
        for call in (
            rt.session("s_doesnotexist"),
            rt.messages("s_doesnotexist"),
            rt.delete_session("s_doesnotexist"),
            rt.rename_session("s_doesnotexist", "x"),
            rt.export_session("s_doesnotexist", "md"),
        ):
            with pytest.raises(NotFoundError):
                await call
