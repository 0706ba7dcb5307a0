"""Routing: explicit, @mention, single, LLM router, cache, fallbacks, delegation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from muxi_cli.core.route_cache import RouteCache, normalise
from muxi_cli.protocol import events as ev
from muxi_cli.protocol.mentions import split_mention
from tests.core.conftest import collect, request
from tests.fakellm import Error, FakeLLM, Hang, JSONReply, Text, ToolCalls

AGENTS = """
agents:
  - name: writer
    description: Writes and edits prose, emails and documentation.
  - name: coder
    description: Writes, reviews and debugs Python code.
    delegates: [writer]
default_agent: writer
router:
  timeout: 2
"""


def routed(events) -> ev.AgentRouted:
    return next(e for e in events if e.type == ev.AGENT_ROUTED and not e.nested)


def router_requests(fake_llm: FakeLLM) -> list[dict]:
    return [
        r
        for r in fake_llm.requests
        if any(t.get("function", {}).get("name") == "choose_agent" for t in r.get("tools", []))
    ]


async def test_llm_router_picks_agent_with_reason_and_structured_call(
    make_runtime, fake_llm: FakeLLM
):
    fake_llm.script(
        ToolCalls([("choose_agent", {"agent": "coder", "reason": "a Python bug"})]),
        Text("Fixed."),
    )
    runtime = make_runtime(AGENTS)
    events = await collect(runtime.chat(request("my python script crashes")))
    decision = routed(events)
    assert (decision.agent, decision.method, decision.cached) == ("coder", "llm", False)
    assert decision.reason == "a Python bug"
    router_call = fake_llm.requests[0]
    assert router_call["tool_choice"]["function"]["name"] == "choose_agent"
    enum = router_call["tools"][0]["function"]["parameters"]["properties"]["agent"]["enum"]
    assert enum == ["writer", "coder"]
    assert "Writes, reviews and debugs Python code." in router_call["messages"][0]["content"]
    assert events[0].agent == "coder"


async def test_route_cache_hit_skips_router(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(
        ToolCalls([("choose_agent", {"agent": "coder", "reason": "code"})]),
        Text("one"),
        Text("two"),
    )
    runtime = make_runtime(AGENTS)
    await collect(runtime.chat(request("Fix my Python code!")))
    events = await collect(runtime.chat(request("fix my python   code")))
    decision = routed(events)
    assert (decision.agent, decision.method, decision.cached) == ("coder", "cached", True)
    assert len(router_requests(fake_llm)) == 1
    assert len(fake_llm.requests) == 3


@pytest.mark.parametrize(
    "router_reply",
    [
        ToolCalls([("choose_agent", {"agent": "poet", "reason": "rhymes"})]),
        JSONReply({"agent": "coder"}),
        Error(400, "router request rejected"),
    ],
    ids=["unknown-agent", "no-tool-call", "provider-error"],
)
async def test_router_failures_fall_back_to_default(make_runtime, fake_llm: FakeLLM, router_reply):
    fake_llm.script(router_reply, Text("fallback answer"))
    runtime = make_runtime(AGENTS)
    events = await collect(runtime.chat(request("hello there")))
    decision = routed(events)
    assert (decision.agent, decision.method) == ("writer", "default")
    assert events[-1].type == ev.RUN_COMPLETED


async def test_router_timeout_falls_back_to_default(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(Hang(), Text("default answer"))
    runtime = make_runtime(AGENTS.replace("timeout: 2", "timeout: 0.5"))
    events = await collect(runtime.chat(request("anything")))
    decision = routed(events)
    assert decision.method == "default" and "timed out" in decision.reason
    assert events[-1].text == "default answer"


async def test_explicit_agent_and_mention_skip_router(make_runtime, fake_llm: FakeLLM):
    runtime = make_runtime(AGENTS)
    events = await collect(runtime.chat(request("hello", agent="coder")))
    assert (routed(events).agent, routed(events).method) == ("coder", "explicit")
    events = await collect(runtime.chat(request("@coder: why does this fail?")))
    assert (routed(events).agent, routed(events).method) == ("coder", "explicit")
    user = [m for m in fake_llm.requests[-1]["messages"] if m["role"] == "user"][-1]
    assert user["content"] == "why does this fail?"
    assert router_requests(fake_llm) == []


async def test_unknown_explicit_agent_is_a_usage_error(make_runtime, fake_llm: FakeLLM):
    runtime = make_runtime(AGENTS)
    events = await collect(runtime.chat(request("hi", agent="codr")))
    assert events[-1].type == ev.RUN_FAILED
    assert events[-1].error["code"] == "not_found"
    assert "coder" in events[-1].error["hint"]


async def test_sticky_session_router_sees_previous_agent(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(
        ToolCalls([("choose_agent", {"agent": "coder", "reason": "code"})]),
        Text("done"),
        ToolCalls([("choose_agent", {"agent": "coder", "reason": "follow-up"})]),
        Text("more"),
    )
    runtime = make_runtime(AGENTS)
    first = await collect(runtime.chat(request("debug this python")))
    sid = first[0].session_id
    await collect(runtime.chat(request("and now?", session_id=sid)))
    prompt = router_requests(fake_llm)[-1]["messages"][-1]["content"]
    assert "Agent that answered last: coder" in prompt and "debug this python" in prompt
    info = await runtime.session(sid)
    assert info.agent == "coder"


async def test_delegation_nests_events_and_uses_answer(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(
        ToolCalls([("ask_writer", {"question": "Write a haiku about bugs"})]),
        Text("Bugs hide in the code"),
        Text("Here is the haiku from writer: Bugs hide in the code"),
    )
    runtime = make_runtime(AGENTS)
    events = await collect(runtime.chat(request("haiku please", agent="coder")))
    nested = [e for e in events if e.nested]
    assert nested and all(e.parent_run_id == events[0].run_id for e in nested)
    assert nested[0].type == ev.RUN_STARTED and nested[0].agent == "writer"
    assert any(e.type == ev.RUN_COMPLETED for e in nested)
    result = next(e for e in events if e.type == ev.TOOL_RESULT and not e.nested)
    assert result.content == "Bugs hide in the code"
    top_text = "".join(e.text for e in events if e.type == ev.TEXT_DELTA and not e.nested)
    assert top_text == "Here is the haiku from writer: Bugs hide in the code"
    # the delegate saw only the question, not the parent's conversation
    delegate_req = fake_llm.requests[1]
    users = [m["content"] for m in delegate_req["messages"] if m["role"] == "user"]
    assert users == ["Write a haiku about bugs"]


async def test_delegation_depth_is_bounded(make_runtime, fake_llm: FakeLLM):
    from muxi_cli.core.agent import MAX_DELEGATION_DEPTH

    chain = """
agents:
  - name: a
    delegates: [b]
  - name: b
    delegates: [a]
"""

    def reply(req):
        if req.get("tools") and req["messages"][-1]["role"] != "tool":
            return ToolCalls([(req["tools"][0]["function"]["name"], {"question": "go deeper"})])
        return Text("bottom" if not req.get("tools") else "passing it up")

    fake_llm.set_default(reply)
    runtime = make_runtime(chain)
    events = await collect(runtime.chat(request("start", agent="a")))
    depths = [e.depth for e in events]
    assert max(depths) == MAX_DELEGATION_DEPTH
    assert events[-1].type == ev.RUN_COMPLETED
    assert len(fake_llm.requests) == 2 * MAX_DELEGATION_DEPTH + 1
    deepest = [r for r in fake_llm.requests if not r.get("tools")]
    assert deepest, "the deepest agent is offered no delegate tools"


def test_split_mention_and_normalise():
    assert split_mention("@coder fix it", ["coder"]) == ("coder", "fix it")
    assert split_mention("@nobody fix it", ["coder"]) == (None, "@nobody fix it")
    assert split_mention("email @coder", ["coder"]) == (None, "email @coder")
    assert normalise("  Fix MY code!! ") == "fix my code"


def test_route_cache_ttl_size_and_persistence(tmp_path, monkeypatch):
    # A clock the test moves: a real 0.2 s TTL expired between put and get on a loaded machine.
    now = [1_000_000.0]
    monkeypatch.setattr("muxi_cli.core.route_cache.time", SimpleNamespace(time=lambda: now[0]))
    cache = RouteCache(ttl=60, size=2, path=tmp_path / "routes.db")
    k1, k2, k3 = (RouteCache.key(m, None, "fp") for m in ("one", "two", "three"))
    cache.put(k1, "a", "r1")
    cache.put(k2, "b", "r2")
    assert cache.get(k1) == ("a", "r1")
    cache.put(k3, "c", "r3")  # evicts the least recently used (k2)
    assert cache.get(k2) is None and len(cache) == 2
    again = RouteCache(ttl=60, size=2, path=tmp_path / "routes.db")
    assert again.get(k3) == ("c", "r3")  # shared across processes through the file
    now[0] += 59
    assert cache.get(k3) == ("c", "r3")
    now[0] += 2  # past the TTL
    assert cache.get(k3) is None
    assert RouteCache.key("x", None, "fp1") != RouteCache.key("x", None, "fp2")
    assert RouteCache.key("x", "a", "fp") != RouteCache.key("x", "b", "fp")


async def test_changing_agents_invalidates_cache(make_runtime, fake_llm: FakeLLM):
    from muxi_cli.config.schema import Formation

    fake_llm.script(ToolCalls([("choose_agent", {"agent": "coder", "reason": "code"})]), Text("x"))
    runtime = make_runtime(AGENTS)
    await collect(runtime.chat(request("python help")))
    assert len(runtime.cache) == 1
    changed = Formation.model_validate(
        {"agents": [{"name": "writer"}, {"name": "coder", "description": "Rust now"}]}
    )
    runtime.orchestrator.router.set_formation(changed)
    assert len(runtime.cache) == 0


async def test_router_usage_is_reported(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(
        ToolCalls([("choose_agent", {"agent": "coder", "reason": "code"})], usage=(40, 8)),
        Text("done", usage=(10, 5)),
    )
    runtime = make_runtime(AGENTS)
    events = await collect(runtime.chat(request("python question")))
    usages = [e for e in events if e.type == ev.USAGE]
    assert [(u.input_tokens, u.output_tokens) for u in usages] == [(40, 8), (10, 5)]


async def test_mistyped_mention_is_an_error_but_other_at_words_are_text(
    make_runtime, fake_llm: FakeLLM
):
    runtime = make_runtime(AGENTS)
    events = await collect(runtime.chat(request("@codr fix this", agent=None)))
    assert events[-1].type == ev.RUN_FAILED and events[-1].error["code"] == "not_found"
    assert "coder" in events[-1].error["hint"]
    assert await runtime.sessions() == []
    fake_llm.script(
        ToolCalls([("choose_agent", {"agent": "writer", "reason": "greeting"})]), Text("hi all")
    )
    events = await collect(runtime.chat(request("@everyone hello")))
    assert events[-1].type == ev.RUN_COMPLETED
