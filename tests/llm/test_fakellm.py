"""The fake LLM server itself, checked with the real openai and anthropic SDKs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakellm import Error, FakeLLM, Hang, JSONReply, Malformed, Slow, Text, ToolCalls


def _openai(fake: FakeLLM, **kw: Any) -> Any:
    import openai

    return openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0, **kw)


def _anthropic(fake: FakeLLM, **kw: Any) -> Any:
    import anthropic

    return anthropic.Anthropic(
        base_url=fake.anthropic_base_url, api_key="sk-ant-fake", max_retries=0, **kw
    )


MSG = [{"role": "user", "content": "hi"}]


def test_openai_stream_text_and_usage(fake_llm: FakeLLM) -> None:
    fake_llm.script(Text("hello there world", usage=(7, 3)))
    client = _openai(fake_llm)
    stream = client.chat.completions.create(
        model="fake-model", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    deltas, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                deltas.append(choice.delta.content)
            finish = choice.finish_reason or finish
    assert deltas == ["hello ", "there ", "world"]
    assert finish == "stop"
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (7, 3)
    req = fake_llm.last_request
    assert req["path"] == "/v1/chat/completions"
    assert req["messages"] == MSG
    assert req["headers"]["authorization"] == "Bearer sk-fake"


def test_openai_stream_tool_calls_in_fragments(fake_llm: FakeLLM) -> None:
    reply = ToolCalls([("add", {"a": 1, "b": 2}), ("echo", {"text": "x" * 30})])
    fake_llm.script(reply)
    stream = _openai(fake_llm).chat.completions.create(model="m", messages=MSG, stream=True)
    calls: dict[int, dict[str, str]] = {}
    fragments = 0
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for tc in choice.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    slot["args"] += tc.function.arguments
                    fragments += 1
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["add", "echo"]
    assert json.loads(calls[0]["args"]) == {"a": 1, "b": 2}
    assert json.loads(calls[1]["args"]) == {"text": "x" * 30}
    assert [c["id"] for c in calls.values()] == reply.ids
    assert fragments >= 4


def test_openai_non_stream(fake_llm: FakeLLM) -> None:
    fake_llm.script(JSONReply({"agent": "a"}), ToolCalls([("t", {"x": 1})], text="calling"))
    client = _openai(fake_llm)
    done = client.chat.completions.create(model="m", messages=MSG)
    assert json.loads(done.choices[0].message.content) == {"agent": "a"}
    assert done.usage.prompt_tokens == 10
    done = client.chat.completions.create(model="m", messages=MSG)
    msg = done.choices[0].message
    assert msg.content == "calling"
    assert msg.tool_calls[0].function.name == "t"
    assert json.loads(msg.tool_calls[0].function.arguments) == {"x": 1}
    assert done.choices[0].finish_reason == "tool_calls"


def test_openai_errors(fake_llm: FakeLLM) -> None:
    import openai

    client = _openai(fake_llm)
    fake_llm.script(
        Error(429, retry_after=0.5),
        Error(401),
        Error(404),
        Error(400),
        Error(500),
    )
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model="m", messages=MSG, stream=True)
    assert rate.value.response.headers["retry-after-ms"] == "500"
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="m", messages=MSG)
    with pytest.raises(openai.NotFoundError) as nf:
        client.chat.completions.create(model="gpt-nope", messages=MSG)
    assert "gpt-nope" in str(nf.value)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="m", messages=MSG)
    assert bad.value.code == "context_length_exceeded"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=MSG)


def test_openai_malformed_chunk_raises(fake_llm: FakeLLM) -> None:
    fake_llm.script(Malformed())
    stream = _openai(fake_llm).chat.completions.create(model="m", messages=MSG, stream=True)
    with pytest.raises(ValueError):  # json.JSONDecodeError
        for _ in stream:
            pass


def test_openai_models(fake_llm: FakeLLM) -> None:
    assert [m.id for m in _openai(fake_llm).models.list()] == ["fake-model"]


def test_anthropic_stream_text_and_tools(fake_llm: FakeLLM) -> None:
    reply = ToolCalls([("add", {"a": 1, "b": 2}), ("echo", {"text": "hi"})], text="Let me check.")
    fake_llm.script(Text("one two three", usage=(11, 4)), reply)
    client = _anthropic(fake_llm)
    with client.messages.stream(model="claude-x", max_tokens=100, messages=MSG) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert texts == ["one ", "two ", "three"]
    assert final.usage.input_tokens == 11 and final.usage.output_tokens == 4
    assert final.stop_reason == "end_turn"

    with client.messages.stream(model="claude-x", max_tokens=100, messages=MSG) as stream:
        partials = [
            e
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
        ]
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].text == "Let me check."
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [
        ("add", {"a": 1, "b": 2}),
        ("echo", {"text": "hi"}),
    ]
    assert [u.id for u in uses] == reply.ids
    assert len(partials) >= 4
    req = fake_llm.last_request
    assert req["path"] == "/v1/messages"
    assert "sk-ant-fake" in (
        req["headers"].get("x-api-key", "") + req["headers"].get("authorization", "")
    )


def test_anthropic_non_stream(fake_llm: FakeLLM) -> None:
    fake_llm.script(Text("plain"), ToolCalls([("t", {"x": 1})]))
    client = _anthropic(fake_llm)
    msg = client.messages.create(model="c", max_tokens=10, messages=MSG)
    assert msg.content[0].text == "plain" and msg.usage.output_tokens == 5
    msg = client.messages.create(model="c", max_tokens=10, messages=MSG)
    assert msg.content[0].type == "tool_use" and msg.content[0].input == {"x": 1}


def test_anthropic_errors(fake_llm: FakeLLM) -> None:
    import anthropic

    client = _anthropic(fake_llm)
    fake_llm.script(Error(429, retry_after=2), Error(401), Error(404), Error(400), Error(529))
    with pytest.raises(anthropic.RateLimitError) as rate:
        client.messages.create(model="c", max_tokens=10, messages=MSG, stream=True)
    assert rate.value.response.headers["retry-after"] == "2"
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model="c", max_tokens=10, messages=MSG)
    with pytest.raises(anthropic.NotFoundError) as nf:
        client.messages.create(model="claude-nope", max_tokens=10, messages=MSG)
    assert "claude-nope" in str(nf.value)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="c", max_tokens=10, messages=MSG)
    assert "prompt is too long" in str(bad.value)
    with pytest.raises(anthropic.APIStatusError) as over:
        client.messages.create(model="c", max_tokens=10, messages=MSG)
    assert over.value.status_code == 529


def test_anthropic_malformed_chunk_raises(fake_llm: FakeLLM) -> None:
    fake_llm.script(Malformed())
    client = _anthropic(fake_llm)
    with (
        pytest.raises(ValueError),
        client.messages.stream(model="c", max_tokens=10, messages=MSG) as stream,
    ):
        for _ in stream:
            pass


def test_slow_reply_trips_read_timeout(fake_llm: FakeLLM) -> None:
    fake_llm.script(Slow("a b c", delay=2.0))
    stream = _openai(fake_llm, timeout=0.3).chat.completions.create(
        model="m", messages=MSG, stream=True
    )
    with pytest.raises(Exception) as err:
        for _ in stream:
            pass
    assert "timeout" in type(err.value).__name__.lower() or "timed out" in str(err.value).lower()


def test_default_callable_and_ollama_probe(fake_llm: FakeLLM) -> None:
    import urllib.request

    fake_llm.set_default(lambda req: Text(f"you said {req['messages'][-1]['content']}"))
    done = _openai(fake_llm).chat.completions.create(model="m", messages=MSG)
    assert done.choices[0].message.content == "you said hi"
    with urllib.request.urlopen(fake_llm.url + "/api/tags", timeout=5) as resp:
        assert json.load(resp)["models"][0]["name"] == "llama3.2"


def test_formation_yaml(fake_llm: FakeLLM, tmp_path: Any) -> None:
    import yaml

    from muxi_cli.config.schema import Formation

    data = yaml.safe_load(fake_llm.formation_yaml("anthropic", "claude-x", extra="name: t"))
    formation = Formation.model_validate(data)
    assert formation.default_model == "anthropic/claude-x"
    assert formation.providers["anthropic"].base_url == fake_llm.url
    assert formation.name == "t"
    path = fake_llm.write_formation(tmp_path, provider="local")
    local = Formation.model_validate(yaml.safe_load(path.read_text()))
    assert local.providers["local"].type == "openai"
    assert local.providers["local"].base_url == fake_llm.openai_base_url


def test_hang_is_released_by_close() -> None:
    import threading

    fake = FakeLLM()
    fake.script(Hang())
    failed = threading.Event()

    def call() -> None:
        try:
            _openai(fake, timeout=30).chat.completions.create(model="m", messages=MSG)
        except Exception:
            failed.set()

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    fake.wait_for_requests(1)
    fake.close()
    worker.join(timeout=10)
    assert failed.is_set()
