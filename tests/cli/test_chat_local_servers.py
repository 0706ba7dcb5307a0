"""`muxi chat` against servers that misbehave the way real local model servers do."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from tests.fakellm import EmptyOK, FakeLLM, Hang, Text, ToolCalls, Truncated
from tests.procs import run_muxi as muxi

LOCAL = "local"


def _formation(fake: FakeLLM, tmp_path: Path, extra: str = "", provider_extra: str = "") -> Path:
    text = fake.formation_yaml(provider=LOCAL, extra=extra)
    if provider_extra:
        text = text.replace("    api_key: sk-fake\n", "    api_key: sk-fake\n" + provider_extra, 1)
    path = tmp_path / "muxi.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _statuses(home: Path) -> list[str]:
    dbs = list(home.rglob("sessions.db"))
    assert dbs, "no session database"
    with sqlite3.connect(dbs[0]) as db:
        return [row[0] for row in db.execute("select status from messages order by rowid")]


def test_stream_cut_off_is_exit_1_and_the_partial_reply_is_kept_as_failed(
    fake_llm: FakeLLM, tmp_path: Path, muxi_home: Path
) -> None:
    _formation(fake_llm, tmp_path)
    fake_llm.script(Truncated("The capital of France is"))
    result = muxi("chat", "capital of France?")
    assert result.returncode == 1, result.stderr
    assert "closed the stream before the reply finished" in result.stderr
    assert result.stdout.startswith("The capital of France is")
    assert _statuses(muxi_home)[-1] == "failed"


def test_empty_200_is_exit_1_with_a_message(fake_llm: FakeLLM, tmp_path: Path) -> None:
    _formation(fake_llm, tmp_path)
    fake_llm.script(EmptyOK())
    result = muxi("chat", "hello")
    assert result.returncode == 1
    assert "empty body" in result.stderr


def test_llama_cpp_python_preset_makes_real_tool_calls(fake_llm: FakeLLM, tmp_path: Path) -> None:
    _formation(
        fake_llm,
        tmp_path,
        extra="agents:\n  - name: assistant\n    tools: [calculator]\n",
        provider_extra="    preset: llama-cpp-python\n",
    )
    fake_llm.llama_cpp_python_tools = True
    fake_llm.stream_usage = False
    fake_llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("42"))
    result = muxi("chat", "what is 6*7?", "--yes", "-o", "json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [c["tool"] for c in out["tool_calls"]] == ["calculator"]
    assert out["reply"] == "42"
    assert fake_llm.requests[0]["tool_choice"] == "auto"
    assert not fake_llm.requests[0].get("stream")


def test_tool_call_written_as_text_is_reported_on_stderr(fake_llm: FakeLLM, tmp_path: Path) -> None:
    """No preset: llama-cpp-python ignores streamed tools and the model writes the call."""
    _formation(fake_llm, tmp_path, extra="agents:\n  - name: assistant\n    tools: [calculator]\n")
    fake_llm.llama_cpp_python_tools = True
    fake_llm.script(ToolCalls([("calculator", {"expression": "6*7"})]))
    result = muxi("chat", "what is 6*7?", "--yes", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert "wrote a tool call (calculator) as text" in result.stderr
    assert "preset: llama-cpp-python" in result.stderr
    out = json.loads(result.stdout)
    assert out["notices"][0]["code"] == "tool_call_as_text"


def test_usage_not_reported_is_unknown_in_json(fake_llm: FakeLLM, tmp_path: Path) -> None:
    _formation(fake_llm, tmp_path)
    fake_llm.stream_usage = False
    fake_llm.script(Text("hi"))
    result = muxi("chat", "hello", "-o", "json")
    assert result.returncode == 0, result.stderr
    usage = json.loads(result.stdout)["usage"]
    assert usage["unknown"] is True
    assert usage["cost_usd"] is None


async def test_slow_memory_extraction_does_not_hold_the_close(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    """The reply is done, extraction hangs: closing the runtime (what a one-shot
    `muxi chat` does before it exits) still takes seconds, not the 30 s it did."""
    import lancedb  # noqa: F401  (imported outside the timing: its cost is issue 17's)

    from muxi_cli.protocol.records import ChatRequest
    from muxi_cli.runtime.local import LocalRuntime

    path = _formation(
        fake_llm,
        tmp_path,
        extra="memory:\n  embedding: hash\n"
        "agents:\n  - name: assistant\n    memory:\n      extract_every: 1\n",
    )
    fake_llm.script(Text("noted"), Hang())
    runtime = await LocalRuntime.open(config_path=str(path), start_tools=False, user_id="ana")
    try:
        events = [
            e async for e in (await runtime.chat(ChatRequest(message="I live in Lisbon"))).events()
        ]
        assert events[-1].type == "run.completed"
        # The extraction call goes out in the background (the loop must keep running).
        await asyncio.to_thread(fake_llm.wait_for_requests, 2, 60.0)
    finally:
        started = time.monotonic()
        await runtime.aclose()
        elapsed = time.monotonic() - started
    assert elapsed < 6, f"closing took {elapsed:.1f} s"
    assert fake_llm.wait_for_disconnects(1, timeout=5) == 1  # the model server was hung up on


def test_extraction_that_is_not_json_is_warned_once_with_what_the_model_said(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    _formation(
        fake_llm,
        tmp_path,
        extra="memory:\n  embedding: hash\n  exit_wait: 30\n"
        "agents:\n  - name: assistant\n    memory:\n      extract_every: 1\n",
    )
    fake_llm.script(Text("noted"), Text("Sure! The user lives in Lisbon."))
    result = muxi("chat", "I live in Lisbon")
    assert result.returncode == 0, result.stderr
    assert "did not answer with JSON" in result.stderr
    assert "The user lives in Lisbon" in result.stderr
