"""Both SDK providers against the fake LLM server, through the real SDKs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from muxi_cli.errors import (
    AuthError,
    ContextTooLongError,
    ModelNotFoundError,
    ProviderError,
    RateLimitError,
    TurnTimeoutError,
)
from muxi_cli.llm.anthropic_provider import AnthropicProvider
from muxi_cli.llm.base import (
    Chunk,
    DoneChunk,
    LLMProvider,
    LLMRequest,
    Message,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
    UsageChunk,
    complete,
)
from muxi_cli.llm.common import RetryPolicy
from muxi_cli.llm.openai_provider import OpenAIProvider
from tests.fakellm import Error, FakeLLM, Hang, JSONReply, Malformed, Slow, Text, ToolCalls

FAST = RetryPolicy(max_retries=2, backoff=0.01, max_backoff=0.02)
KINDS = ["openai", "anthropic"]


def make(kind: str, fake: FakeLLM, retry: RetryPolicy = FAST, **kw: Any) -> LLMProvider:
    if kind == "openai":
        return OpenAIProvider(
            "openai", api_key="sk-test-123456", base_url=fake.openai_base_url, retry=retry, **kw
        )
    return AnthropicProvider(
        "anthropic",
        api_key="sk-ant-test-123456",
        base_url=fake.anthropic_base_url,
        retry=retry,
        **kw,
    )


def req(*messages: Message, **kw: Any) -> LLMRequest:
    return LLMRequest(
        model=kw.pop("model", "fake-model"),
        messages=list(messages) or [Message("user", "hi")],
        **kw,
    )


async def collect(provider: LLMProvider, request: LLMRequest) -> list[Chunk]:
    try:
        return [chunk async for chunk in provider.stream(request)]
    finally:
        await provider.aclose()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_text_streams_in_order(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Text("the quick brown fox", usage=(12, 4)))
    chunks = await collect(make(kind, fake_llm), req())
    texts = [c.text for c in chunks if isinstance(c, TextChunk)]
    assert texts == ["the ", "quick ", "brown ", "fox"]
    assert UsageChunk(12, 4) in chunks
    assert chunks[-1] == DoneChunk("end_turn")
    # usage before done, text before usage
    assert chunks.index(UsageChunk(12, 4)) > max(
        i for i, c in enumerate(chunks) if isinstance(c, TextChunk)
    )


async def test_request_shape_system_and_tools(kind: str, fake_llm: FakeLLM) -> None:
    spec = ToolSpec(
        "calc",
        "Evaluate arithmetic",
        {"type": "object", "properties": {"expr": {"type": "string"}}},
    )
    request = req(
        system="Be brief.", tools=[spec], tool_choice="calc", max_tokens=99, temperature=0.2
    )
    await collect(make(kind, fake_llm), request)
    body = fake_llm.last_request
    if kind == "openai":
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert body["tools"][0]["function"]["name"] == "calc"
        assert body["tools"][0]["function"]["parameters"] == spec.input_schema
        assert body["tool_choice"] == {"type": "function", "function": {"name": "calc"}}
        assert body["stream_options"] == {"include_usage": True}
        assert body["temperature"] == 0.2
        assert 99 in (body.get("max_tokens"), body.get("max_completion_tokens"))
    else:
        assert body["system"] == "Be brief."
        assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
        assert body["tools"][0] == {
            "name": "calc",
            "description": "Evaluate arithmetic",
            "input_schema": spec.input_schema,
        }
        assert body["tool_choice"] == {"type": "tool", "name": "calc"}
        assert body["max_tokens"] == 99 and body["temperature"] == 0.2


@pytest.mark.parametrize(
    ("choice", "openai_wire", "anthropic_wire"),
    [("required", "required", {"type": "any"}), (None, None, None)],
)
async def test_tool_choice_variants(
    kind: str, fake_llm: FakeLLM, choice: str | None, openai_wire: Any, anthropic_wire: Any
) -> None:
    spec = ToolSpec("t", "", {"type": "object"})
    await collect(make(kind, fake_llm), req(tools=[spec], tool_choice=choice))
    assert fake_llm.last_request.get("tool_choice") == (
        openai_wire if kind == "openai" else anthropic_wire
    )


async def test_single_tool_call(kind: str, fake_llm: FakeLLM) -> None:
    reply = ToolCalls([("calc", {"expr": "2 + 2", "precise": True})])
    fake_llm.script(reply)
    chunks = await collect(make(kind, fake_llm), req())
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert calls == [ToolCall(reply.ids[0], "calc", {"expr": "2 + 2", "precise": True})]
    assert chunks[-1] == DoneChunk("tool_use")


async def test_several_tool_calls_with_text(kind: str, fake_llm: FakeLLM) -> None:
    args = [{"a": i, "s": "x" * (10 * i)} for i in range(3)]
    reply = ToolCalls([("f0", args[0]), ("f1", args[1]), ("f2", args[2])], text="Working on it.")
    fake_llm.script(reply)
    result = await complete(make(kind, fake_llm), req())
    assert result.text == "Working on it."
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        (reply.ids[i], f"f{i}", args[i]) for i in range(3)
    ]
    assert result.stop_reason == "tool_use"
    assert (result.input_tokens, result.output_tokens) == (20, 10)


async def test_invalid_tool_arguments_are_kept_raw(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(ToolCalls([("calc", '{"expr": "1+'), ("other", "[1, 2]")]))
    result = await complete(make(kind, fake_llm), req())
    first, second = result.tool_calls
    assert (
        first.name == "calc" and first.arguments == {} and first.invalid_arguments == '{"expr": "1+'
    )
    assert second.invalid_arguments == "[1, 2]"


async def test_tool_results_go_back_in_wire_shape(kind: str, fake_llm: FakeLLM) -> None:
    calls = (ToolCall("call_1", "calc", {"expr": "1+1"}), ToolCall("call_2", "time", {}))
    history = [
        Message("user", "what is 1+1 and the time?"),
        Message("assistant", "Checking.", tool_calls=calls),
        Message("tool", "2", tool_call_id="call_1", tool_name="calc"),
        Message("tool", "clock broke", tool_call_id="call_2", tool_name="time", is_error=True),
    ]
    tools = [ToolSpec(c.name, "", {"type": "object"}) for c in calls]
    await collect(make(kind, fake_llm), req(*history, tools=tools))
    sent = fake_llm.last_request["messages"]
    if kind == "openai":
        assert sent[1] == {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "calc", "arguments": '{"expr": "1+1"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "time", "arguments": "{}"},
                },
            ],
        }
        assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "2"}
        assert sent[3]["role"] == "tool" and sent[3]["tool_call_id"] == "call_2"
        assert "clock broke" in sent[3]["content"] and sent[3]["content"].startswith("Error")
    else:
        assert len(sent) == 3  # user, assistant, ONE user message with both results
        assert sent[1] == {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "calc", "input": {"expr": "1+1"}},
                {"type": "tool_use", "id": "call_2", "name": "time", "input": {}},
            ],
        }
        assert sent[2] == {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "2"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": "clock broke",
                    "is_error": True,
                },
            ],
        }


async def test_non_stream_mode(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(JSONReply({"agent": "coder"}, usage=(3, 2)), ToolCalls([("t", {"k": "v"})]))
    provider = make(kind, fake_llm)
    first = await complete(provider, req(stream=False))
    assert json.loads(first.text) == {"agent": "coder"}
    assert (first.input_tokens, first.output_tokens, first.stop_reason) == (3, 2, "end_turn")
    assert not fake_llm.last_request.get("stream")
    second = await complete(provider, req(stream=False))
    assert [(c.name, c.arguments) for c in second.tool_calls] == [("t", {"k": "v"})]
    await provider.aclose()


async def test_429_then_success_retries(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Error(429, retry_after=0.01), Error(503), Text("finally"))
    result = await complete(make(kind, fake_llm), req())
    assert result.text == "finally"
    assert len(fake_llm.requests) == 3


async def test_500_exhausted_is_provider_error(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.set_default(Error(500))
    with pytest.raises(ProviderError) as err:
        await complete(make(kind, fake_llm), req())
    assert len(fake_llm.requests) == 3  # first try + 2 retries
    assert "500" in err.value.message and err.value.hint


async def test_429_exhausted_is_rate_limit(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.set_default(Error(429, retry_after=0.0))
    with pytest.raises(RateLimitError):
        await complete(make(kind, fake_llm, retry=RetryPolicy(max_retries=1, backoff=0.01)), req())
    assert len(fake_llm.requests) == 2


async def test_long_retry_after_is_not_waited_for(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.set_default(Error(429, retry_after=3600))
    with pytest.raises(RateLimitError):
        await complete(make(kind, fake_llm), req())
    assert len(fake_llm.requests) == 1


async def test_401_is_auth_error_with_hint(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Error(401, message="Incorrect API key provided: sk-test-123456"))
    with pytest.raises(AuthError) as err:
        await complete(make(kind, fake_llm), req())
    assert len(fake_llm.requests) == 1  # not retried
    assert f"muxi keys set {kind}" in (err.value.hint or "")
    env = "OPENAI_API_KEY" if kind == "openai" else "ANTHROPIC_API_KEY"
    assert env in (err.value.hint or "")
    assert "sk-test-123456" not in err.value.message  # the key never leaks into errors


async def test_404_is_model_not_found(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Error(404))
    with pytest.raises(ModelNotFoundError) as err:
        await complete(make(kind, fake_llm), req(model="no-such-model"))
    assert "no-such-model" in err.value.message and "no-such-model" in (err.value.hint or "")


async def test_context_too_long(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Error(400))
    with pytest.raises(ContextTooLongError) as err:
        await complete(make(kind, fake_llm), req())
    assert err.value.hint


async def test_other_400_is_plain_provider_error(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Error(400, message="messages: bad role", code="invalid_request_error"))
    with pytest.raises(ProviderError) as err:
        await complete(make(kind, fake_llm), req())
    assert type(err.value) is ProviderError
    assert "bad role" in err.value.message


async def test_malformed_chunk_is_provider_error(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Malformed())
    with pytest.raises(ProviderError) as err:
        await complete(make(kind, fake_llm), req())
    assert "malformed" in err.value.message


async def test_malformed_non_stream_is_provider_error(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Malformed())
    with pytest.raises(ProviderError):
        await complete(make(kind, fake_llm), req(stream=False))


async def test_slow_stream_times_out(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Slow("a b c d", delay=5.0))
    seen: list[Chunk] = []
    provider = make(kind, fake_llm)
    with pytest.raises(TurnTimeoutError) as err:
        async for chunk in provider.stream(req(timeout=0.5)):
            seen.append(chunk)
    await provider.aclose()
    assert err.value.hint
    assert not any(isinstance(c, DoneChunk) for c in seen)


async def test_slow_stream_overall_deadline(kind: str, fake_llm: FakeLLM) -> None:
    # Each chunk arrives well within the per-read timeout, but the whole call is too long.
    fake_llm.script(Slow("a b c d e f g h i j k l", delay=0.15))
    with pytest.raises(TurnTimeoutError):
        await complete(make(kind, fake_llm), req(timeout=0.6))


async def test_hang_times_out(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Hang())
    with pytest.raises(TurnTimeoutError):
        await complete(make(kind, fake_llm), req(timeout=0.3))


async def test_connection_refused_is_provider_error(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.close()  # nothing listens on that port any more
    with pytest.raises(ProviderError) as err:
        await complete(make(kind, fake_llm, retry=RetryPolicy(max_retries=1, backoff=0.01)), req())
    assert "could not reach" in err.value.message


async def test_closing_the_stream_early_is_clean(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Slow("one two three four", delay=0.05), Text("again"))
    provider = make(kind, fake_llm)
    agen = provider.stream(req())
    first = await anext(agen)
    assert isinstance(first, TextChunk)
    await agen.aclose()  # what a cancelled turn does
    assert (await complete(provider, req())).text == "again"
    await provider.aclose()


async def test_cancel_task_mid_stream(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Slow("one two three", delay=30))
    provider = make(kind, fake_llm)

    async def run() -> None:
        async for _ in provider.stream(req()):
            pass

    task = asyncio.create_task(run())
    await asyncio.to_thread(fake_llm.wait_for_requests, 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await provider.aclose()


async def test_compat_server_without_key_uses_placeholder(fake_llm: FakeLLM) -> None:
    provider = OpenAIProvider("local", base_url=fake_llm.openai_base_url, compat=True, retry=FAST)
    assert (await complete(provider, req())).text == "ok"
    body = fake_llm.last_request
    assert body["headers"]["authorization"].startswith("Bearer ")
    assert "max_tokens" in body and "max_completion_tokens" not in body
    await provider.aclose()


async def test_empty_assistant_turns_and_roles_merge_for_anthropic(fake_llm: FakeLLM) -> None:
    history = [Message("user", "a"), Message("assistant", ""), Message("user", "b")]
    await collect(make("anthropic", fake_llm), req(*history))
    assert fake_llm.last_request["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


async def test_error_event_mid_stream_is_provider_error(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Error(529 if kind == "anthropic" else 500, mid_stream=True))
    seen: list[Chunk] = []
    provider = make(kind, fake_llm)
    with pytest.raises(ProviderError) as err:
        async for chunk in provider.stream(req()):
            seen.append(chunk)
    await provider.aclose()
    assert TextChunk("partial ") in seen
    assert "while answering" in err.value.message
    assert ("Overloaded" if kind == "anthropic" else "server had an error") in err.value.message


def test_provider_survives_a_new_event_loop(kind: str, fake_llm: FakeLLM) -> None:
    provider = make(kind, fake_llm)
    # The CLI may run several asyncio.run() calls with one registry.
    assert asyncio.run(complete(provider, req())).text == "ok"
    assert asyncio.run(complete(provider, req())).text == "ok"
    asyncio.run(provider.aclose())


async def test_tool_calls_without_ids_get_unique_ones() -> None:
    # Some OpenAI-compatible servers send tool calls without an id. Approvals are
    # matched by call id across all running turns, so "call_0" for everyone would
    # let one turn's approval wait collide with another's.
    from types import SimpleNamespace

    from muxi_cli.llm.openai_provider import _completion_chunks, _stream_chunks

    def chunk(tool_call: Any | None, finish: str | None = None) -> Any:
        delta = SimpleNamespace(content=None, tool_calls=[tool_call] if tool_call else None)
        return SimpleNamespace(
            usage=None, choices=[SimpleNamespace(delta=delta, finish_reason=finish)]
        )

    async def events() -> Any:
        fn = SimpleNamespace(name="lookup", arguments='{"q": 1}')
        yield chunk(SimpleNamespace(index=0, id=None, function=fn))
        yield chunk(None, "tool_calls")

    async def one_stream() -> str:
        calls = [c.call for c in [x async for x in _stream_chunks(events())] if hasattr(c, "call")]
        assert len(calls) == 1 and calls[0].arguments == {"q": 1}
        return calls[0].id

    first, second = await one_stream(), await one_stream()
    assert first and second and first != second

    fn = SimpleNamespace(name="lookup", arguments="{}")
    message = SimpleNamespace(content=None, tool_calls=[SimpleNamespace(id=None, function=fn)] * 2)
    whole = SimpleNamespace(
        choices=[SimpleNamespace(message=message, finish_reason="tool_calls")], usage=None
    )
    ids = [c.call.id for c in _completion_chunks(whole) if hasattr(c, "call")]
    assert len(set(ids)) == 2 and all(ids)


async def test_earlier_tool_calls_go_as_text_when_no_tools_are_offered(
    kind: str, fake_llm: FakeLLM
) -> None:
    # A session's tools can go away (memory search once the memories are forgotten,
    # an MCP server removed); the Anthropic API refuses tool blocks without tools.
    call = ToolCall("call-1", "memory_search", {"queries": ["diet"]})
    history = [
        Message("user", "what do I eat"),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", "User is vegan.", tool_call_id="call-1", tool_name="memory_search"),
        Message("assistant", "You are vegan."),
        Message("user", "and now?"),
    ]
    chunks = await collect(make(kind, fake_llm), req(*history))
    assert any(isinstance(c, DoneChunk) for c in chunks)
    if kind == "anthropic":
        sent = json.dumps(fake_llm.last_request["messages"])
        assert "tool_use" not in sent and "memory_search" in sent and "User is vegan." in sent
