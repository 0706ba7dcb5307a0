"""A router answer that cannot be used says what went wrong and with which model."""

from __future__ import annotations

import pytest

from muxi_cli.protocol import events as ev
from tests.core.conftest import collect, request
from tests.core.test_routing import AGENTS, routed
from tests.fakellm import Error, FakeLLM, Hang, JSONReply, Text, ToolCalls

MODEL = "openai/fake-model"


@pytest.mark.parametrize(
    ("router_reply", "failure", "says"),
    [
        (
            Text("I would pick the writer for this one."),
            "no_tool_call",
            "answered in prose instead of calling choose_agent: 'I would pick the writer",
        ),
        (JSONReply({"agent": "coder"}), "no_tool_call", "answered in prose"),
        (
            ToolCalls([("choose_agent", {"agent": "poet", "reason": "rhymes"})]),
            "unknown_agent",
            "named an unknown agent 'poet'",
        ),
        (
            ToolCalls([("choose_agent", {"reason": "no agent given"})]),
            "invalid_answer",
            "gave an invalid answer: choose_agent(",
        ),
        (
            [Error(500, "upstream exploded", retry_after=0)] * 4,
            "http_error",
            "HTTP 500: upstream exploded",
        ),
        (Error(401, "bad key"), "http_error", "rejected the API key"),
        (
            Text("I cannot help with that.", stop_reason="content_filter"),
            "refused",
            "refused to choose (stop reason 'content_filter')",
        ),
    ],
    ids=[
        "prose",
        "json-prose",
        "unknown-agent",
        "invalid-answer",
        "http-500",
        "http-401",
        "refusal",
    ],
)
async def test_failed_route_says_why_and_with_which_model(
    make_runtime, fake_llm: FakeLLM, router_reply, failure, says
):
    replies = router_reply if isinstance(router_reply, list) else [router_reply]
    fake_llm.script(*replies, Text("fallback answer"))
    runtime = make_runtime(AGENTS.replace("timeout: 2", "timeout: 10"))
    events = await collect(runtime.chat(request("hello there")))
    decision = routed(events)
    assert (decision.agent, decision.method) == ("writer", "default")
    assert decision.failure == failure
    assert decision.router_model == MODEL
    assert says in decision.reason
    assert f"the router ({MODEL})" in decision.reason
    assert decision.reason.endswith("using the default agent 'writer'")
    assert "(error)" not in decision.reason
    assert events[-1].type == ev.RUN_COMPLETED and events[-1].text == "fallback answer"


async def test_router_timeout_names_the_model_and_the_limit(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(Hang(), Text("default answer"))
    runtime = make_runtime(AGENTS.replace("timeout: 2", "timeout: 0.5"))
    events = await collect(runtime.chat(request("anything")))
    decision = routed(events)
    assert decision.failure == "timeout"
    assert decision.reason.startswith(f"the router ({MODEL}) timed out after 0.5s")


async def test_router_usage_is_reported_when_its_answer_is_unusable(
    make_runtime, fake_llm: FakeLLM
):
    fake_llm.script(Text("writer, I suppose", usage=(30, 4)), Text("ok", usage=(10, 5)))
    runtime = make_runtime(AGENTS)
    events = await collect(runtime.chat(request("hmm")))
    usages = [(u.input_tokens, u.output_tokens) for u in events if u.type == ev.USAGE]
    assert usages == [(30, 4), (10, 5)]


async def test_a_good_route_names_the_router_model_and_no_failure(make_runtime, fake_llm: FakeLLM):
    fake_llm.script(
        ToolCalls([("choose_agent", {"agent": "coder", "reason": "code"})]), Text("done")
    )
    runtime = make_runtime(AGENTS)
    decision = routed(await collect(runtime.chat(request("python please"))))
    assert (
        decision.router_model == MODEL
        and decision.failure is None
        and "failure" not in decision.to_dict()
    )
    explicit = routed(await collect(runtime.chat(request("hi", agent="writer"))))
    assert explicit.router_model is None and "router_model" not in explicit.to_dict()
