"""How local OpenAI-compatible servers really behave, through the real SDKs.

Each case reproduces something llama.cpp (``llama-server`` and llama-cpp-python),
Ollama, vLLM or LM Studio does, with the fake server taught the same behaviour.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from muxi_cli.errors import (
    ContextTooLongError,
    ModelNotFoundError,
    ProviderError,
    TurnTimeoutError,
)
from muxi_cli.llm.base import TextChunk, ToolSpec, UsageChunk, complete
from muxi_cli.llm.capabilities import capabilities_for, text_tool_call
from muxi_cli.llm.common import RetryPolicy
from muxi_cli.llm.openai_provider import OpenAIProvider
from muxi_cli.providers import table
from tests.fakellm import (
    LLAMA_CPP_CONTEXT_ERROR,
    EmptyOK,
    Error,
    FakeLLM,
    Hang,
    Text,
    ToolCalls,
    Truncated,
)
from tests.llm.test_providers import collect, make, req

FAST = RetryPolicy(max_retries=2, backoff=0.01, max_backoff=0.02)
TOOL = ToolSpec("get_time", "Current time", {"type": "object", "properties": {}})


def local(fake: FakeLLM, preset: str | None = None, **kw: Any) -> OpenAIProvider:
    return OpenAIProvider(
        "local",
        compat=True,
        base_url=fake.openai_base_url,
        retry=FAST,
        capabilities=capabilities_for(preset, default="openai-compatible"),
        **kw,
    )


# ----------------------------------------------------------- streams that never finish


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_stream_without_finish_reason_is_an_error(kind: str, fake_llm: FakeLLM) -> None:
    """A server killed mid-answer (SIGTERM) ends the body cleanly but never finishes."""
    fake_llm.script(Truncated("half of an ans"))
    provider = make(kind, fake_llm)
    seen: list[str] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in provider.stream(req()):
            if isinstance(chunk, TextChunk):
                seen.append(chunk.text)
    assert "closed the stream before the reply finished" in info.value.message
    assert "".join(seen) == "half of an ans"  # what arrived was still yielded


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_abruptly_closed_stream_is_an_error(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(Truncated("cut", abrupt=True))
    with pytest.raises(ProviderError):
        await collect(make(kind, fake_llm), req())


@pytest.mark.parametrize("stream", [True, False])
async def test_empty_200_is_an_error_that_says_so(stream: bool, fake_llm: FakeLLM) -> None:
    fake_llm.script(EmptyOK())
    with pytest.raises(ProviderError) as info:
        await collect(local(fake_llm), req(stream=stream))
    assert "empty body" in info.value.message


# ------------------------------------------------------------------ error classification


async def test_llama_cpp_context_overflow_is_context_too_long(fake_llm: FakeLLM) -> None:
    fake_llm.script(Error(400, body=LLAMA_CPP_CONTEXT_ERROR))
    with pytest.raises(ContextTooLongError) as info:
        await collect(local(fake_llm), req())
    assert "try again" not in (info.value.hint or "").lower()


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (500, "input length exceeds the context length"),  # Ollama (reported as a 500)
        (400, "This model's maximum context length is 2048 tokens. However, you requested 4000"),
        (400, "The decoder prompt (length 9000) is longer than the maximum model length of 8192"),
        (
            400,
            "The number of tokens to keep from the initial prompt is greater than the context "
            "length. Try to load the model with a larger context length",
        ),  # LM Studio
        (400, "Trying to keep the first 15857 tokens when context the overflows."),  # LM Studio
    ],
)
async def test_local_servers_context_overflow_wording(
    status: int, message: str, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Error(status, message=message, code="error"))
    with pytest.raises(ContextTooLongError):
        await collect(local(fake_llm), req())
    assert len(fake_llm.requests) == 1  # a 500 that says "context" is not retried


async def test_404_from_a_wrong_base_url_names_the_url(fake_llm: FakeLLM) -> None:
    provider = OpenAIProvider("local", compat=True, base_url=fake_llm.url + "/v2", retry=FAST)
    with pytest.raises(ModelNotFoundError) as info:
        await collect(provider, req())
    err = info.value
    assert fake_llm.url + "/v2/chat/completions" in err.message
    assert "base URL may be wrong" in err.message
    assert "/v1" in (err.hint or "")


# ---------------------------------------------------------------- tools on local servers


async def test_llama_cpp_python_preset_sends_tools_whole_with_auto(fake_llm: FakeLLM) -> None:
    fake_llm.llama_cpp_python_tools = True
    fake_llm.script(ToolCalls([("get_time", {})]))
    result = await complete(local(fake_llm, "llama-cpp-python"), req(tools=[TOOL]))
    assert [c.name for c in result.tool_calls] == ["get_time"]
    sent = fake_llm.last_request
    assert not sent.get("stream")
    assert sent["tool_choice"] == "auto"


async def test_unknown_server_that_answers_streamed_tools_empty_is_retried_whole(
    fake_llm: FakeLLM,
) -> None:
    """Without a preset: the empty 200 to a streamed tool request is retried once
    without streaming, and later tool requests skip the stream."""
    fake_llm.llama_cpp_python_tools = True
    fake_llm.script(ToolCalls([("get_time", {})]), ToolCalls([("get_time", {})]))
    provider = local(fake_llm)
    request = req(tools=[TOOL], tool_choice="auto")
    result = await complete(provider, request)
    assert [c.name for c in result.tool_calls] == ["get_time"]
    assert [bool(r.get("stream")) for r in fake_llm.requests] == [True, False]
    await complete(provider, request)
    assert not fake_llm.requests[-1].get("stream")


async def test_plain_text_requests_still_stream_with_the_preset(fake_llm: FakeLLM) -> None:
    fake_llm.script(Text("hello"))
    await complete(local(fake_llm, "llama-cpp-python"), req())
    assert fake_llm.last_request.get("stream") is True


async def test_ollama_preset_turns_a_forced_choice_into_required(fake_llm: FakeLLM) -> None:
    fake_llm.script(ToolCalls([("get_time", {})]))
    await complete(local(fake_llm, "ollama"), req(tools=[TOOL], tool_choice="get_time"))
    assert fake_llm.last_request["tool_choice"] == "required"


def test_tool_call_written_as_text_is_recognised() -> None:
    names = {"get_time", "calculator"}
    assert text_tool_call('{"name": "get_time", "arguments": {}}', names) == "get_time"
    assert text_tool_call('Sure! {"tool": "calculator", "input": "1+1"}', names) == "calculator"
    assert text_tool_call("<tool_call>get_time</tool_call>", names) == "<tool_call>"
    assert text_tool_call('{"name": "something_else"}', names) is None
    assert text_tool_call("The time is 10:00.", names) is None
    assert text_tool_call('{"name": "get_time"}', set()) is None


def test_presets_cover_the_common_local_servers() -> None:
    for name in ("llama-cpp", "llama-cpp-python", "ollama", "vllm", "lmstudio"):
        spec = table.get(name)
        assert spec is not None and spec.local and spec.capabilities.probe_limits
    assert capabilities_for("llama.cpp").probe_limits  # alias
    assert not capabilities_for("llama-cpp-python", {"stream_usage": True}).stream_tools
    assert capabilities_for("llama-cpp-python", {"stream_usage": True}).stream_usage


# ----------------------------------------------------------------------- usage unknown


async def test_usage_never_sent_while_streaming_is_unknown_not_zero(fake_llm: FakeLLM) -> None:
    fake_llm.stream_usage = False
    fake_llm.script(Text("hi there"))
    chunks = await collect(local(fake_llm), req())
    usage = [c for c in chunks if isinstance(c, UsageChunk)]
    assert usage and not usage[0].known
    fake_llm.script(Text("hi there"))
    result = await complete(local(fake_llm), req())
    assert result.usage_known is False


async def test_usage_reported_is_known(fake_llm: FakeLLM) -> None:
    fake_llm.script(Text("hi"))
    result = await complete(local(fake_llm), req())
    assert result.usage_known and result.input_tokens == 10


# ---------------------------------------------------------------------------- limits


async def test_reply_budget_follows_the_server_context(fake_llm: FakeLLM) -> None:
    """llama.cpp's /props reports n_ctx; the reply budget stays within half of it."""
    fake_llm.props = {"default_generation_settings": {"n_ctx": 2048}}
    fake_llm.script(Text("ok"), Text("ok"))
    provider = local(fake_llm, "llama-cpp")
    await complete(provider, req())
    assert fake_llm.last_request["max_tokens"] == 1024
    # An agent's own max_tokens below the cap is sent as is.
    await complete(provider, req(max_tokens=300))
    assert fake_llm.last_request["max_tokens"] == 300
    assert fake_llm.gets.count("/props") == 1  # asked once


async def test_provider_max_tokens_is_the_default(fake_llm: FakeLLM) -> None:
    fake_llm.script(Text("ok"))
    await complete(local(fake_llm, max_tokens=512), req())
    assert fake_llm.last_request["max_tokens"] == 512


# ---------------------------------------------------------------- upstream is released


async def test_timeout_closes_the_upstream_request(fake_llm: FakeLLM) -> None:
    """A timed-out call must not leave the model server generating for nobody."""
    provider = local(fake_llm)
    fake_llm.script(Text("warm"), Hang())
    await complete(provider, req())  # the SDK is imported: the deadline covers the call only
    with pytest.raises(TurnTimeoutError):
        await collect(provider, req(timeout=0.5, stream=False))
    assert len(fake_llm.requests) == 2
    assert fake_llm.wait_for_disconnects(1, timeout=5) == 1


async def test_cancel_closes_the_upstream_request(fake_llm: FakeLLM) -> None:
    fake_llm.script(Hang())
    provider = local(fake_llm)
    task = asyncio.create_task(collect(provider, req(stream=False)))
    await asyncio.to_thread(fake_llm.wait_for_requests, 1, 5.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake_llm.wait_for_disconnects(1, timeout=5) == 1


@pytest.mark.parametrize("stream", [True, False])
async def test_provider_timeout_closes_the_upstream_request(
    stream: bool, fake_llm: FakeLLM
) -> None:
    """The provider's own read timeout (``providers.<name>.timeout``) also hangs up."""
    fake_llm.script(Hang())
    provider = local(fake_llm, timeout=0.5)
    with pytest.raises(TurnTimeoutError):
        await collect(provider, req(stream=stream))
    assert fake_llm.wait_for_disconnects(1, timeout=5) == 1


# ------------------------------------------------------------------- configuration


def test_capability_overrides_in_the_schema_match_the_capabilities() -> None:
    from muxi_cli.config.schema import CapabilityOverrides
    from muxi_cli.llm.capabilities import CAPABILITY_FIELDS

    assert set(CapabilityOverrides.model_fields) == set(CAPABILITY_FIELDS)


def _registry(text: str) -> Any:
    import yaml

    from muxi_cli.config.schema import Formation
    from muxi_cli.llm.registry import ProviderRegistry

    return ProviderRegistry(Formation.model_validate(yaml.safe_load(text)))


def test_preset_and_overrides_reach_the_provider() -> None:
    registry = _registry(
        "providers:\n  llama:\n    type: openai\n    base_url: http://127.0.0.1:9/v1\n"
        "    preset: llama.cpp\n    capabilities: {stream_usage: false}\n    max_tokens: 300\n"
    )
    provider, _model = registry.resolve("llama/smol")
    assert provider.capabilities.stream_usage is False
    assert provider.capabilities.probe_limits is True
    assert provider.max_tokens == 300


def test_unknown_preset_is_a_config_error_naming_the_nearest() -> None:
    """The formation does not load: the preset is checked against the provider table."""
    import yaml

    from muxi_cli.config.loader import load_document
    from muxi_cli.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_document(
            yaml.safe_load(
                "providers:\n  llama:\n    type: openai\n    base_url: http://127.0.0.1:9/v1\n"
                "    preset: lama-cpp\n"
            )
        )
    assert "'llama-cpp'" in info.value.message


def test_remote_compatible_servers_are_not_probed_for_limits() -> None:
    registry = _registry(
        "providers:\n  groq:\n    type: openai\n    base_url: https://api.groq.example/v1\n"
    )
    provider, _model = registry.resolve("groq/llama")
    assert provider.capabilities.probe_limits is False


def test_status_bar_says_usage_unknown() -> None:
    from muxi_cli.tui import formatting
    from muxi_cli.tui.model import Usage

    usage = Usage()
    usage.add(0, 0, None, unknown=True)
    assert formatting.usage_tokens(usage) == "usage unknown"
    assert formatting.usage_cost(usage) == "cost unknown"
    usage.add(1200, 30, 0.0)
    assert formatting.usage_tokens(usage) == "1.2k+ tokens"
    assert formatting.usage_cost(usage) == "$0.00 + unknown"
