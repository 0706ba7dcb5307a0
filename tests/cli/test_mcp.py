"""``muxi mcp list|tools|call|prompts|prompt|resources|read``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app

SERVERS = Path(__file__).resolve().parent.parent / "mcp_servers"
PY = sys.executable

FORMATION = f"""
mcp_servers:
  demo:
    command: {PY}
    args: ["{SERVERS / "demo_server.py"}"]
  broken:
    command: {PY}
    args: ["{SERVERS / "exits_at_start.py"}"]
  spare:
    command: {PY}
    args: ["{SERVERS / "demo_server.py"}", "--name", "spare"]
    approval: allow
    enabled: false
agents:
  - name: helper
    mcp_servers: [demo, broken]
    tools: [calculator]
"""


@pytest.fixture(autouse=True)
def formation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "muxi.yaml"
    path.write_text(FORMATION)
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_list_shows_status_and_reports_failures_once() -> None:
    result = run("mcp", "list", "--json")
    assert result.exit_code == 0, result.output
    servers = {s["name"]: s for s in json.loads(result.stdout)}
    assert servers["demo"]["state"] == "ready"
    assert servers["demo"]["transport"] == "stdio"
    assert servers["demo"]["tool_count"] >= 9
    assert servers["demo"]["started_ms"] >= 0
    assert servers["broken"]["state"] == "failed"
    assert "missing API token" in servers["broken"]["error"]
    assert servers["spare"]["state"] == "disabled"
    assert result.stderr.count("MCP server 'broken' failed") == 1
    assert "missing API token, cannot continue" in result.stderr

    table = run("mcp", "list")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["SERVER", "TRANSPORT", "STATUS", "TOOLS", "STARTED", "IN", "ERROR"]
    demo_row = next(line for line in lines if line.startswith("demo"))
    assert "ready" in demo_row and "stdio" in demo_row


def test_tools_lists_namespaced_tools_with_policy() -> None:
    result = run("mcp", "tools", "demo", "--json")
    assert result.exit_code == 0, result.output
    tools = {t["name"]: t for t in json.loads(result.stdout)}
    assert tools["demo__echo"]["server"] == "demo"
    assert tools["demo__echo"]["tool"] == "echo"
    assert tools["demo__echo"]["policy"] == "ask"
    assert tools["demo__echo"]["agents"] == ["helper"]
    assert "calculator" not in tools
    unknown = run("mcp", "tools", "nope")
    assert unknown.exit_code == 2
    assert "no MCP server named 'nope'" in unknown.stderr


def test_call_prints_results_and_exit_codes() -> None:
    ok = run("mcp", "call", "demo", "add", "--arg", "a=2", "--arg", "b=3.5")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) == {"sum": 5.5, "terms": 2}

    text = run("mcp", "call", "demo", "echo", "--json", '{"text": "hello"}')
    assert text.stdout == "hello\n"

    full = run("mcp", "call", "demo", "pixel", "--output", "json")
    data = json.loads(full.stdout)
    assert data["ok"] is True and data["images"][0]["mime"] == "image/png"

    failed = run("mcp", "call", "demo", "fail", "-a", "message=nope")
    assert failed.exit_code == 1
    assert "nope" in failed.stderr and failed.stdout == ""

    missing = run("mcp", "call", "demo", "nope")
    assert missing.exit_code == 2 and "has no tool 'nope'" in missing.stderr

    bad_arg = run("mcp", "call", "demo", "echo", "--arg", "novalue")
    assert bad_arg.exit_code == 2 and "not key=value" in bad_arg.stderr

    bad_json = run("mcp", "call", "demo", "echo", "--json", "[1]")
    assert bad_json.exit_code == 2 and "JSON object" in bad_json.stderr

    down = run("mcp", "call", "broken", "echo")
    assert down.exit_code == 1 and "not available" in down.stderr
    assert "missing API token" in down.stderr


def test_prompts_resources_read() -> None:
    prompts = run("mcp", "prompts", "--json")
    assert prompts.exit_code == 0, prompts.output
    assert json.loads(prompts.stdout) == [
        {
            "server": "demo",
            "name": "greet",
            "description": "Greet someone.",
            "arguments": [{"name": "who", "description": "", "required": True}],
        }
    ]
    rendered = run("mcp", "prompt", "demo", "greet", "-a", "who=Ada")
    assert rendered.exit_code == 0, rendered.output
    assert rendered.stdout == "user: Please greet Ada warmly.\n"

    resources = run("mcp", "resources", "demo")
    assert resources.exit_code == 0, resources.output
    assert "demo://readme" in resources.stdout and "text/plain" in resources.stdout

    read = run("mcp", "read", "demo", "demo://readme")
    assert read.exit_code == 0, read.output
    assert read.stdout == "demo readme: hello from the demo server\n"

    missing = run("mcp", "read", "nope", "x://y")
    assert missing.exit_code == 2 and "no MCP server named 'nope'" in missing.stderr


def test_parse_args() -> None:
    from muxi_cli.cli.mcp import parse_args
    from muxi_cli.errors import UsageError

    assert parse_args(["t=[not json"], None) == {"t": "[not json"}
    assert parse_args(["n=3", "s=hi", "b=true", 'o={"a": 1}', "e="], '{"x": 1, "n": 0}') == {
        "x": 1,
        "n": 3,
        "s": "hi",
        "b": True,
        "o": {"a": 1},
        "e": "",
    }
    with pytest.raises(UsageError):
        parse_args([], "{bad")
    with pytest.raises(UsageError):
        parse_args(["=1"], None)


def test_chat_calls_a_real_third_party_server(fake_llm: Any, tmp_path: Path) -> None:
    """The fake model asks for mcp-server-time's tool; muxi calls the real server.

    The server starts in the background, so its tool may be missing from the
    first model request: the scripted model then makes a harmless calculator
    call and looks again, which also shows a slow server's tools appearing
    mid-turn.
    """
    import os
    import subprocess
    import threading

    from tests.fakellm import Text, ToolCalls

    fake_llm.write_formation(
        tmp_path,
        extra=f"""
mcp_servers:
  time:
    command: {PY}
    args: [-m, mcp_server_time, --local-timezone, UTC]
agents:
  - name: clock
    mcp_servers: [time]
    tools: [calculator]
    max_tool_rounds: 300
""",
    )
    pause = threading.Event()

    def model(request: dict[str, Any]) -> Any:
        results = [m for m in request["messages"] if m.get("role") == "tool"]
        for message in results:
            if "Europe/Paris" in str(message.get("content")):
                data = json.loads(message["content"])
                return Text(f"In Paris it is {data['datetime']}.")
        names = {t["function"]["name"] for t in request.get("tools") or []}
        if "time__get_current_time" in names:
            return ToolCalls([("time__get_current_time", {"timezone": "Europe/Paris"})])
        pause.wait(0.1)  # the server is still starting; think a little, then look again
        return ToolCalls([("calculator", {"expression": "1+1"})])

    fake_llm.set_default(model)
    env = dict(os.environ)
    env.pop("CI", None)
    result = subprocess.run(
        [
            PY,
            "-m",
            "muxi_cli",
            "chat",
            "What time is it in Paris?",
            "-a",
            "clock",
            "--yes",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    time_calls = [
        c for c in data["tool_calls"] if (c["server"], c["tool"]) == ("time", "get_current_time")
    ]
    assert time_calls, data["tool_calls"]
    assert time_calls[0]["ok"] is True and time_calls[0]["decision"] == "allowed"
    sent = json.loads(time_calls[0]["content"])
    assert sent["timezone"] == "Europe/Paris"
    assert data["reply"] == f"In Paris it is {sent['datetime']}."


def test_call_refuses_a_remote_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mcp call` starts the server itself; through a remote profile it says so (exit 2)."""
    monkeypatch.setenv("MUXI_PROFILE", "prod")
    result = CliRunner().invoke(app, ["mcp", "call", "demo", "echo", "--arg", "text=hi"])
    assert result.exit_code == 2
    assert "local profile only" in result.stderr and "'prod' is a remote muxi" in result.stderr
    assert "--profile local" in result.stderr


@pytest.mark.parametrize("command", ["call", "prompt", "validate", "test", "docs"])
def test_repeatable_options_show_their_form_in_help(command: str) -> None:
    """`--arg KEY=VALUE`, not the Python type `<list[str]>`."""
    result = CliRunner().invoke(app, ["mcp", command, "--help"])
    assert result.exit_code == 0
    option_lines = [line for line in result.stdout.splitlines() if " --" in line]
    assert option_lines
    assert not [line for line in option_lines if "list[str]" in line]
