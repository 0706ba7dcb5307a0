"""`muxi chat` through the real entry point: output formats, stdin, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakellm import Error, FakeLLM, Slow, Text, ToolCalls
from tests.procs import run_muxi as muxi
from tests.procs import stopping


@pytest.fixture
def formation(fake_llm: FakeLLM, tmp_path: Path) -> Path:
    return fake_llm.write_formation(tmp_path)


def test_text_output_streams_reply_and_keeps_stdout_clean(fake_llm: FakeLLM, formation: Path):
    fake_llm.script(Text("Two plus two is four."))
    result = muxi("chat", "What is 2+2?")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Two plus two is four.\n"
    sent = fake_llm.requests[-1]
    assert sent["messages"][-1] == {"role": "user", "content": "What is 2+2?"}


def test_piped_stdin_is_attached_and_dash_reads_prompt(fake_llm: FakeLLM, formation: Path):
    fake_llm.script(Text("summary"), Text("answer"))
    result = muxi("chat", "summarise this", stdin="line one\nline two\n")
    assert result.returncode == 0, result.stderr
    content = fake_llm.requests[-1]["messages"][-1]["content"]
    assert content.startswith("summarise this") and "line two" in content
    result = muxi("chat", "-", stdin="the whole prompt\n")
    assert result.returncode == 0, result.stderr
    assert fake_llm.requests[-1]["messages"][-1]["content"] == "the whole prompt\n"


def test_jsonl_prints_every_event_in_order(fake_llm: FakeLLM, formation: Path):
    fake_llm.script(Text("hello world", chunks=2))
    result = muxi("chat", "hi", "--output", "jsonl")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds == [
        "run.started",
        "agent.routed",
        "text.delta",
        "text.delta",
        "model.call",
        "usage",
        "run.completed",
    ]
    for event in events:
        assert {"v", "type", "run_id", "session_id", "ts"} <= event.keys()
    assert events[-1]["text"] == "hello world"


def test_json_output_and_continue_and_session(fake_llm: FakeLLM, formation: Path):
    fake_llm.script(Text("first"), Text("second"), Text("third"))
    first = json.loads(muxi("chat", "one", "-o", "json").stdout)
    assert first["reply"] == "first" and first["agent"] == "assistant"
    assert first["usage"]["input_tokens"] == 10 and first["error"] is None
    assert first["routing"]["method"] == "single"
    second = json.loads(muxi("chat", "two", "-c", "-o", "json").stdout)
    assert second["session_id"] == first["session_id"]
    third = json.loads(muxi("chat", "three", "-s", first["session_id"][:6], "-o", "json").stdout)
    assert third["session_id"] == first["session_id"]
    turn = next(r for r in reversed(fake_llm.requests) if r["messages"][-1]["content"] == "three")
    history = [m["content"] for m in turn["messages"] if m["role"] != "system"]
    assert history == ["one", "first", "two", "second", "three"]


def test_model_override_system_and_no_stream(fake_llm: FakeLLM, formation: Path):
    fake_llm.script(Text("whole"))
    result = muxi("chat", "hi", "-m", "openai/other-model", "--system", "Be terse.", "--no-stream")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "whole\n"
    sent = fake_llm.requests[-1]
    assert sent["model"] == "other-model" and sent.get("stream") in (None, False)
    assert sent["messages"][0] == {"role": "system", "content": "Be terse."}


def test_no_provider_fails_fast_with_exit_2_and_how_to_fix(tmp_path: Path):
    result = muxi("chat", "hello")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "muxi keys set" in result.stderr and "base_url" in result.stderr


def test_provider_failure_exit_1(fake_llm: FakeLLM, formation: Path):
    fake_llm.set_default(Error(500, "boom"))
    result = muxi("chat", "hello", "-o", "json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["error"]["code"] == "provider_error"


def test_denied_tool_exit_3_and_yes_allows(fake_llm: FakeLLM, tmp_path: Path):
    fake_llm.write_formation(
        tmp_path,
        extra="agents:\n  - name: calc\n    tools:\n      - {builtin: calculator, approval: ask}\n",
    )
    fake_llm.script(
        ToolCalls([("calculator", {"expression": "6*7"})]), Text("I could not compute it.")
    )
    denied = muxi("chat", "6*7?", "-o", "json")
    assert denied.returncode == 3, denied.stderr
    data = json.loads(denied.stdout)
    assert data["denied"] is True and data["tool_calls"][0]["decision"] == "denied"
    fake_llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("42"))
    allowed = muxi("chat", "6*7?", "--yes", "-o", "json")
    assert allowed.returncode == 0, allowed.stderr
    call = json.loads(allowed.stdout)["tool_calls"][0]
    assert call["decision"] == "allowed" and call["ok"] is True and "42" in call["content"]


def test_timeout_exit_4(fake_llm: FakeLLM, tmp_path: Path):
    fake_llm.write_formation(tmp_path, extra="turn_timeout: 1\n")
    fake_llm.script(Slow("a b c d e f", delay=0.6))
    result = muxi("chat", "slow")
    assert result.returncode == 4
    assert "timeout" in result.stderr


def test_usage_errors_exit_2(formation: Path):
    assert muxi("chat").returncode == 2
    result = muxi("chat", "hi", "-s", "abc", "-c")
    assert result.returncode == 2 and "cannot be used together" in result.stderr
    result = muxi("chat", "hi", "--output", "xml")
    assert result.returncode == 2
    result = muxi("chat", "hi", "-a", "nobody")
    assert result.returncode == 2 and "no agent named" in result.stderr


def test_ctrl_c_exits_130_and_keeps_partial_reply(fake_llm: FakeLLM, formation: Path):
    fake_llm.script(Slow("one two three four five six seven eight nine ten", delay=0.4))
    env = dict(os.environ)
    with stopping(
        subprocess.Popen(
            [sys.executable, "-m", "muxi_cli", "chat", "count"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    ) as proc:
        assert proc.stdout is not None
        first = proc.stdout.read(3)  # wait until the reply has started streaming
        assert first
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    listed = muxi("sessions", "list", "--json")
    session_id = json.loads(listed.stdout)[0]["id"]
    shown = json.loads(muxi("sessions", "show", session_id, "--json").stdout)
    messages = shown["messages"] if isinstance(shown, dict) else shown
    reply = [m for m in messages if m["role"] == "assistant"][-1]
    assert reply["status"] == "cancelled"
    assert reply["content"].startswith("one") and len(reply["content"]) < 40


def test_help_documents_exit_codes():
    result = muxi("chat", "--help")
    assert result.returncode == 0
    for code in ("0    ok", "2    usage", "3    a tool", "4    timeout", "130  interrupted"):
        assert code in result.stdout


def test_broken_mcp_server_is_reported_on_stderr_and_chat_goes_on(
    fake_llm: FakeLLM, tmp_path: Path
):
    fake_llm.write_formation(
        tmp_path,
        extra=(
            "mcp_servers:\n  broken:\n    command: muxi-no-such-command-xyz\n    startup_timeout: 5\n"
            "agents:\n  - name: a\n    mcp_servers: [broken]\n"
        ),
    )
    fake_llm.script(Text("still here"))
    result = muxi("chat", "hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "still here\n"
    assert "MCP server 'broken' is not available" in result.stderr


def test_resource_is_attached_to_the_message(fake_llm: FakeLLM, tmp_path: Path):
    demo = Path(__file__).resolve().parent.parent / "mcp_servers" / "demo_server.py"
    fake_llm.write_formation(
        tmp_path,
        extra=(
            f"mcp_servers:\n  demo:\n    command: {sys.executable}\n    args: [{str(demo)!r}]\n"
        ),
    )
    fake_llm.script(Text("summarised"))
    result = muxi("chat", "summarise this", "--resource", "demo:demo://readme")
    assert result.returncode == 0, result.stderr
    content = fake_llm.requests[-1]["messages"][-1]["content"]
    assert content.startswith("summarise this")
    assert "demo readme: hello from the demo server" in content
    bad = muxi("chat", "x", "--resource", "no-colon")
    assert bad.returncode == 2 and "SERVER:URI" in bad.stderr
