"""The agent loop over the real OpenAI/Anthropic SDKs and the fake LLM server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from muxi_cli.protocol import events as ev
from tests.core.conftest import ScriptedTools, collect, request, types
from tests.fakellm import Error, FakeLLM, Slow, Text, ToolCalls


async def test_text_turn_streams_events_in_order_and_persists(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(Text("Two plus two is four.", usage=(12, 7)))
    runtime = make_runtime()
    events = await collect(runtime.chat(request("What is 2+2?")))
    kinds = types(events)
    assert kinds[:2] == [ev.RUN_STARTED, ev.AGENT_ROUTED]
    assert kinds[-3:] == [ev.MODEL_CALL, ev.USAGE, ev.RUN_COMPLETED]
    assert all(k == ev.TEXT_DELTA for k in kinds[2:-3]) and len(kinds) > 6
    call = next(e for e in events if isinstance(e, ev.ModelCall))
    assert (call.input_tokens, call.output_tokens, call.finish) == (12, 7, "stop")
    assert call.model.endswith("fake-model") and call.duration_ms >= 0
    assert call.first_chunk_ms is not None and call.first_chunk_ms <= call.duration_ms
    assert "".join(e.text for e in events if e.type == ev.TEXT_DELTA) == "Two plus two is four."
    run_ids = {e.run_id for e in events}
    session_ids = {e.session_id for e in events}
    assert len(run_ids) == 1 and len(session_ids) == 1
    usage = next(e for e in events if e.type == ev.USAGE)
    assert (usage.input_tokens, usage.output_tokens) == (12, 7)
    assert events[-1].text == "Two plus two is four."
    assert events[1].method == "single"

    session_id = events[0].session_id
    stored = await runtime.messages(session_id)
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("user", "What is 2+2?", "complete"),
        ("assistant", "Two plus two is four.", "complete"),
    ]
    assert stored[1].meta["usage"]["input_tokens"] == 12
    info = await runtime.session(session_id)
    assert info.title == "What is 2+2?" and info.user_id == "tester"


async def test_continuing_a_session_sends_the_history(make_runtime, fake_llm: FakeLLM):
    runtime = make_runtime()
    fake_llm.script(Text("Hello Ada."), Text("Your name is Ada."))
    first = await collect(runtime.chat(request("My name is Ada.")))
    sid = first[0].session_id
    second = await collect(runtime.chat(request("What is my name?", session_id=sid)))
    assert second[0].session_id == sid
    sent = fake_llm.requests[-1]["messages"]
    contents = [m.get("content") for m in sent if m["role"] != "system"]
    assert contents == ["My name is Ada.", "Hello Ada.", "What is my name?"]


async def test_attachments_are_sent_with_the_message(make_runtime, fake_llm: FakeLLM):
    from muxi_cli.protocol.records import Attachment

    runtime = make_runtime()
    await collect(
        runtime.chat(request("summarise", attachments=[Attachment("stdin", "line one\nline two")]))
    )
    user = [m for m in fake_llm.requests[-1]["messages"] if m["role"] == "user"][-1]
    assert "summarise" in user["content"] and "line two" in user["content"]


async def test_tool_calls_run_concurrently_and_results_go_back(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools
):
    both_started = asyncio.Event()
    started = 0

    async def slow(args: dict[str, Any]) -> str:
        nonlocal started
        started += 1
        if started == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), timeout=5)
        return f"result {args['n']}"

    tools.add("lookup", slow)
    fake_llm.script(
        ToolCalls([("lookup", {"n": 1}), ("lookup", {"n": 2})]),
        Text("Both done."),
    )
    runtime = make_runtime()
    events = await collect(runtime.chat(request("look up two things")))
    assert tools.max_in_flight == 2
    results = [e for e in events if e.type == ev.TOOL_RESULT]
    assert sorted(e.content for e in results) == ["result 1", "result 2"]
    assert all(e.ok for e in results)
    approvals = [e for e in events if e.type == ev.TOOL_APPROVAL]
    assert [(a.decision, a.by) for a in approvals] == [("allowed", "policy")] * 2
    tool_msgs = [m for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert sorted(m["content"] for m in tool_msgs) == ["result 1", "result 2"]
    assert events[-1].type == ev.RUN_COMPLETED and events[-1].text == "Both done."
    stored = await runtime.messages(events[0].session_id)
    assert [m.role for m in stored] == ["user", "assistant", "tool", "tool", "assistant"]
    assert len(stored[1].tool_calls) == 2


async def test_an_mcp_server_named_agent_is_not_a_delegate(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools
):
    """Dispatch keys on the tool's kind: an MCP tool of a server called
    ``agent`` goes to the tool host, not down the delegation path."""
    tools.add("agent__lookup", lambda args: "from the server", server="agent")
    fake_llm.script(ToolCalls([("agent__lookup", {})]), Text("Done."))
    runtime = make_runtime()
    events = await collect(runtime.chat(request("look it up")))
    assert tools.calls == [("agent__lookup", {})]
    [result] = [e for e in events if e.type == ev.TOOL_RESULT]
    assert result.ok and result.content == "from the server"
    assert events[-1].type == ev.RUN_COMPLETED


async def test_anthropic_provider_tool_loop(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools, tmp_path
):
    """The same loop through the Anthropic SDK."""
    import yaml

    from muxi_cli.config.loader import LoadedFormation
    from muxi_cli.config.schema import Formation
    from muxi_cli.core.route_cache import RouteCache
    from muxi_cli.llm.registry import ProviderRegistry
    from muxi_cli.memory.base import NoMemory
    from muxi_cli.runtime.local import LocalRuntime
    from muxi_cli.stores.sessions import SessionStore

    raw = yaml.safe_load(fake_llm.formation_yaml(provider="anthropic"))
    formation = Formation.model_validate(raw)
    runtime = LocalRuntime(
        LoadedFormation(formation, None, raw),
        ProviderRegistry(formation),
        SessionStore(tmp_path / "a.db"),
        tools,
        NoMemory(),
        RouteCache(60, 10),
        user_id="tester",
    )
    tools.add("add", lambda a: a["a"] + a["b"])
    fake_llm.script(ToolCalls([("add", {"a": 2, "b": 3})]), Text("It is 5."))
    try:
        events = await collect(runtime.chat(request("2+3?")))
    finally:
        await runtime.aclose()
    assert next(e for e in events if e.type == ev.TOOL_RESULT).content == "5"
    assert events[-1].text == "It is 5."
    last = fake_llm.requests[-1]
    assert last["path"].endswith("/v1/messages")
    blocks = last["messages"][-1]["content"]
    assert blocks[0]["type"] == "tool_result" and blocks[0]["content"] in (
        "5",
        [{"type": "text", "text": "5"}],
    )


@pytest.mark.parametrize(
    ("mode", "decision", "by", "ran"),
    [("deny", "denied", "policy", False), ("yes", "allowed", "user", True)],
)
async def test_ask_policy_in_non_interactive_modes(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools, mode, decision, by, ran
):
    tools.add("rm", lambda a: "removed", policy="ask")
    fake_llm.script(ToolCalls([("rm", {})]), Text("done"))
    runtime = make_runtime()
    events = await collect(runtime.chat(request("remove it", approval=mode)))
    approval = next(e for e in events if e.type == ev.TOOL_APPROVAL)
    assert (approval.decision, approval.by) == (decision, by)
    assert bool(tools.calls) is ran
    result = next(e for e in events if e.type == ev.TOOL_RESULT)
    assert result.ok is ran
    if not ran:
        assert "denied" in result.content
    assert events[-1].type == ev.RUN_COMPLETED


@pytest.mark.parametrize(("answer", "ran"), [("allow", True), ("always", True), ("deny", False)])
async def test_interactive_approval_waits_for_approve(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools, answer, ran
):
    tools.add("rm", lambda a: "removed", policy="ask")
    fake_llm.script(ToolCalls([("rm", {"path": "x"})]), Text("ok"))
    runtime = make_runtime()
    turn = await runtime.chat(request("remove x", approval="interactive"))

    async def on(event):
        if isinstance(event, ev.ToolApproval) and event.decision == "pending":
            assert tools.calls == []
            await turn.approve(event.call_id, answer)

    events = await collect(turn, on)
    decisions = [e.decision for e in events if e.type == ev.TOOL_APPROVAL]
    assert decisions == ["pending", "allowed" if ran else "denied"]
    assert bool(tools.calls) is ran
    assert tools.remembered == (["rm"] if answer == "always" else [])


async def test_approve_unknown_call_is_an_error(make_runtime, fake_llm: FakeLLM):
    from muxi_cli.errors import NotFoundError, UsageError

    fake_llm.script(Text("no tools here"))
    runtime = make_runtime()
    async with await runtime.chat(request("hi")) as turn:
        with pytest.raises(NotFoundError):
            await turn.approve("nope", "allow")
        with pytest.raises(UsageError):
            await turn.approve("nope", "maybe")  # type: ignore[arg-type]


async def test_unknown_tool_and_bad_arguments_become_tool_errors(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools
):
    tools.add("echo", lambda a: "echoed")
    fake_llm.script(ToolCalls([("nosuch", {}), ("echo", "{not json")]), Text("sorry"))
    runtime = make_runtime()
    events = await collect(runtime.chat(request("go")))
    results = [e for e in events if e.type == ev.TOOL_RESULT]
    assert [r.ok for r in results] == [False, False]
    text = " ".join(r.content for r in results)
    assert "Unknown tool 'nosuch'" in text and "not a valid JSON object" in text
    assert tools.calls == []
    assert events[-1].type == ev.RUN_COMPLETED


async def test_long_results_truncated_for_model_full_in_session(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools
):
    tools.add("big", lambda a: "x" * 5000)
    fake_llm.script(ToolCalls([("big", {})]), Text("ok"))
    runtime = make_runtime("tool_result_limit: 100\n")
    events = await collect(runtime.chat(request("big please")))
    sent = next(m for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool")["content"]
    assert sent.startswith("x" * 100) and "truncated 4900 characters" in sent
    stored = next(m for m in await runtime.messages(events[0].session_id) if m.role == "tool")
    assert stored.content == "x" * 5000


async def test_max_tool_rounds_stops_with_clear_error(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools
):
    tools.add("again", lambda a: "more")
    fake_llm.set_default(ToolCalls([("again", {})]))
    runtime = make_runtime("agents:\n  - name: looper\n    max_tool_rounds: 2\n")
    events = await collect(runtime.chat(request("loop")))
    assert events[-1].type == ev.RUN_FAILED
    assert events[-1].error["code"] == "max_tool_rounds"
    assert "max_tool_rounds" in events[-1].error["hint"]
    assert len(tools.calls) == 2


async def test_provider_error_becomes_run_failed(make_runtime, fake_llm: FakeLLM):
    fake_llm.set_default(Error(401, "invalid x-api-key"))
    runtime = make_runtime()
    events = await collect(runtime.chat(request("hi")))
    assert types(events)[-1] == ev.RUN_FAILED
    error = events[-1].error
    assert error["code"] == "auth_error" and error["hint"]
    assert "sk-fake" not in str(error)


async def test_cancel_keeps_partial_reply(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(Slow("one two three four five six seven eight", delay=0.3))
    runtime = make_runtime()
    seen: list[str] = []
    events = []
    turn = await runtime.chat(request("count"))
    async for event in turn.events():
        events.append(event)
        if event.type == ev.TEXT_DELTA:
            seen.append(event.text)
            if len(seen) == 2:
                await turn.cancel()
    assert events[-1].type == ev.RUN_FAILED and events[-1].error["code"] == "cancelled"
    stored = await runtime.messages(events[0].session_id)
    assert stored[-1].role == "assistant" and stored[-1].status == "cancelled"
    assert stored[-1].content == "".join(seen)


async def test_closing_the_stream_cancels_and_keeps_partial(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(Slow("alpha beta gamma delta epsilon", delay=0.3))
    runtime = make_runtime()
    turn = await runtime.chat(request("words"))
    got = []
    async for event in turn.events():
        got.append(event)
        if event.type == ev.TEXT_DELTA:
            break
    await turn.aclose()
    stored = await runtime.messages(got[0].session_id)
    assert stored[-1].status == "cancelled" and stored[-1].content == got[-1].text


async def test_turn_timeout(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(Slow("a b c d e f g h", delay=0.5))
    runtime = make_runtime("turn_timeout: 1\n")
    events = await collect(runtime.chat(request("slow")))
    assert events[-1].type == ev.RUN_FAILED and events[-1].error["code"] == "timeout"


async def test_unknown_session_fails_before_any_work(make_runtime, fake_llm: FakeLLM):
    from muxi_cli.errors import NotFoundError

    runtime = make_runtime()
    with pytest.raises(NotFoundError):  # refused before a turn starts, as over HTTP
        await runtime.chat(request("hi", session_id="s_doesnotexist"))
    assert fake_llm.requests == []


async def test_sampling_settings_of_a_model_mapping_are_sent(make_runtime, fake_llm: FakeLLM):
    # Agent files write `model: {provider, model, temperature, max_tokens}`.
    runtime = make_runtime(
        """
agents:
  - name: precise
    model: {provider: openai, model: fake-model, temperature: 0.25, max_tokens: 321}
  - name: own
    temperature: 0.9
    model: {provider: openai, model: fake-model, temperature: 0.25, max_tokens: 321}
"""
    )
    fake_llm.script(Text("ok"), Text("ok"))
    await collect(runtime.chat(request("hi", agent="precise")))
    sent = fake_llm.requests[-1]
    assert sent["temperature"] == 0.25
    assert (sent.get("max_tokens") or sent.get("max_completion_tokens")) == 321
    await collect(runtime.chat(request("hi", agent="own")))
    assert fake_llm.requests[-1]["temperature"] == 0.9


async def test_no_provider_leaves_no_empty_session(tools: ScriptedTools, tmp_path):
    from muxi_cli.config.loader import LoadedFormation
    from muxi_cli.config.schema import Formation
    from muxi_cli.core.route_cache import RouteCache
    from muxi_cli.llm.registry import ProviderRegistry
    from muxi_cli.memory.base import NoMemory
    from muxi_cli.runtime.local import LocalRuntime
    from muxi_cli.stores.sessions import SessionStore

    formation = Formation()
    runtime = LocalRuntime(
        LoadedFormation(formation, None, {}),
        ProviderRegistry(formation),
        SessionStore(tmp_path / "s.db"),
        tools,
        NoMemory(),
        RouteCache(60, 10),
        user_id="tester",
    )
    try:
        events = await collect(runtime.chat(request("hello")))
        assert events[-1].type == ev.RUN_FAILED and events[-1].error["code"] == "no_provider"
        assert await runtime.sessions() == []
    finally:
        await runtime.aclose()


async def test_tool_duration_does_not_count_approval_time(
    make_runtime, fake_llm: FakeLLM, tools: ScriptedTools
):
    tools.add("quick", lambda a: "done", policy="ask")
    fake_llm.script(ToolCalls([("quick", {})]), Text("ok"))
    runtime = make_runtime()
    turn = await runtime.chat(request("go", approval="interactive"))

    async def on(event):
        if isinstance(event, ev.ToolApproval) and event.decision == "pending":
            await asyncio.sleep(0.5)  # the user thinks it over
            await turn.approve(event.call_id, "allow")

    events = await collect(turn, on)
    result = next(e for e in events if e.type == ev.TOOL_RESULT)
    assert result.ok and result.duration_ms < 400
