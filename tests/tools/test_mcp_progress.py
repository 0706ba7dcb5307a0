"""Progress, logging and roots of a real MCP server (tests/mcp_servers/progress_server.py).

Progress notifications of a running call become ``tool.progress`` events of
the turn; server log messages go to the ``muxi.mcp.server.<name>`` logger and,
with ``MUXI_MCP_LOG``, to stderr; ``roots/list`` gets the formation's file roots.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from muxi_cli.config.schema import FileToolsConfig, MCPServerConfig
from muxi_cli.protocol import events as ev
from muxi_cli.runtime.local import LocalRuntime
from muxi_cli.tools.base import CURRENT_CALLER, ToolCaller
from muxi_cli.tools.mcp_client import MCPConnection
from tests.core.conftest import collect, request
from tests.fakellm import FakeLLM, Text, ToolCalls

SERVER = Path(__file__).resolve().parent.parent / "mcp_servers" / "progress_server.py"


@pytest.fixture
async def conn(tmp_path: Path) -> AsyncIterator[MCPConnection]:
    config = MCPServerConfig(command=sys.executable, args=[str(SERVER)])
    connection = MCPConnection("prog", config, tmp_path)
    connection.file_roots = FileToolsConfig(roots=[".", str(tmp_path / "shared")])
    connection.start()
    try:
        await connection.wait_settled(60)
        assert connection.state == "ready", connection.error
        yield connection
    finally:
        await connection.stop()


async def test_progress_becomes_tool_progress_events_of_the_turn(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    extra = (
        f"mcp_servers:\n  prog:\n    command: {sys.executable}\n    args: [{str(SERVER)!r}]\n"
        "    approval: allow\nagents:\n  - name: a\n    mcp_servers: [prog]\n"
    )
    runtime = await LocalRuntime.open(config_path=fake_llm.write_formation(tmp_path, extra=extra))
    fake_llm.script(ToolCalls([("prog__count", {"steps": 3})]), Text("Done."))
    try:
        await runtime.tool_host.wait_ready(60)  # type: ignore[attr-defined]
        events = await collect(runtime.chat(request("count to three")))
    finally:
        await runtime.aclose()
    assert events[-1].type == ev.RUN_COMPLETED
    kinds = [e.type for e in events if e.type.startswith("tool.")]
    assert kinds == [
        "tool.requested",
        "tool.approval",
        "tool.progress",
        "tool.progress",
        "tool.progress",
        "tool.result",
    ]
    (requested,) = [e for e in events if isinstance(e, ev.ToolRequested)]
    progress = [e for e in events if isinstance(e, ev.ToolProgress)]
    assert {p.call_id for p in progress} == {requested.call_id}
    assert [(p.progress, p.total, p.message) for p in progress] == [
        (1.0, 3.0, "step 1 of 3"),
        (2.0, 3.0, "step 2 of 3"),
        (3.0, 3.0, "step 3 of 3"),
    ]
    # The wire object and back.
    wire = progress[0].to_dict()
    assert {k: wire[k] for k in ("type", "progress", "total", "message")} == {
        "type": "tool.progress",
        "progress": 1.0,
        "total": 3.0,
        "message": "step 1 of 3",
    }
    assert ev.decode(progress[0].to_json()) == progress[0]


def test_a_progress_event_without_total_or_message() -> None:
    event = ev.EventFactory("s1").tool_progress("c1", 0.5, None, None)
    wire = event.to_dict()
    assert wire["total"] is None and "message" not in wire
    assert ev.decode(wire) == event


async def test_no_progress_sink_no_progress_token(conn: MCPConnection) -> None:
    """Outside a turn (``muxi mcp call``) the call works and nothing listens."""
    outcome = await conn.call_tool("count", {"steps": 1})
    assert outcome.ok and outcome.content == "counted to 1"


async def test_log_messages_go_to_the_log_and_stderr_on_request(
    conn: MCPConnection,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG, logger="muxi.mcp.server")
    assert (await conn.call_tool("count", {"steps": 1})).ok
    records = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert ("muxi.mcp.server.prog", "INFO", "counting to 1") in records
    # Debug messages are not asked for unless MUXI_MCP_LOG is at debug.
    assert not any(r.getMessage() == "step 1" for r in caplog.records)
    assert "[mcp prog]" not in capsys.readouterr().err  # not on stderr unless asked
    monkeypatch.setenv("MUXI_MCP_LOG", "warning")
    assert (await conn.call_tool("shout", {})).ok
    assert (await conn.call_tool("count", {"steps": 1})).ok
    err = capsys.readouterr().err
    # Secrets in a server's message are masked; below the level stays off stderr.
    assert "[mcp prog] warning: disk almost full; token [redacted]" in err
    assert "sk-ant-" not in err and "counting to 1" not in err


async def test_roots_are_the_formation_file_roots(conn: MCPConnection, tmp_path: Path) -> None:
    outcome = await conn.call_tool("roots", {})
    assert outcome.ok, outcome.content
    assert outcome.content.splitlines() == [tmp_path.as_uri(), (tmp_path / "shared").as_uri()]


async def test_roots_for_a_serve_user_key_follow_files_user_keys(
    conn: MCPConnection, tmp_path: Path
) -> None:
    token = CURRENT_CALLER.set(ToolCaller("ana", "user"))
    try:
        assert conn.file_roots is not None
        conn.file_roots.user_keys = "per_user"
        outcome = await conn.call_tool("roots", {})
        assert outcome.content.splitlines() == [
            (tmp_path / "users" / "ana").as_uri(),
            (tmp_path / "shared" / "users" / "ana").as_uri(),
        ]
        conn.file_roots.user_keys = "off"
        assert (await conn.call_tool("roots", {})).content == "(no roots)"
    finally:
        CURRENT_CALLER.reset(token)


def test_muxi_chat_prints_progress_and_server_logs_on_request(
    fake_llm: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scripted ``muxi chat``: progress lines on stderr (one a second, the last
    always), and the server's log messages with ``MUXI_MCP_LOG``."""
    from tests.procs import run_muxi

    extra = (
        f"mcp_servers:\n  prog:\n    command: {sys.executable}\n    args: [{str(SERVER)!r}]\n"
        "    approval: allow\nagents:\n  - name: a\n    mcp_servers: [prog]\n"
    )
    config = fake_llm.write_formation(tmp_path, extra=extra)
    fake_llm.script(ToolCalls([("prog__count", {"steps": 3})]), Text("Done."))
    monkeypatch.setenv("MUXI_MCP_LOG", "info")
    result = run_muxi("--config", str(config), "chat", "count to three", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Done.\n"
    lines = result.stderr.splitlines()
    assert "  count: 33% · step 1 of 3" in lines, result.stderr
    assert "  count: 100% · step 3 of 3" in lines
    assert "  count: 67% · step 2 of 3" not in lines  # within the second after step 1
    assert "[mcp prog] info: counting to 3" in lines


async def test_a_server_cannot_flood_progress_or_smuggle_escapes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from muxi_cli.tools.mcp_hooks import (
        CURRENT_PROGRESS,
        PROGRESS_MESSAGE_MAX,
        logging_callback,
        progress_callback,
    )

    got: list[tuple[float, float | None, str | None]] = []
    token = CURRENT_PROGRESS.set(lambda done, total, message: got.append((done, total, message)))
    try:
        on_progress = progress_callback()
    finally:
        CURRENT_PROGRESS.reset(token)
    assert on_progress is not None
    # "Done" over and over: only the first passes the thinning.
    for _ in range(1000):
        await on_progress(5, 5, "done\x1b]52;c;eA==\x07" + "x" * 100_000)
    assert len(got) == 1
    message = got[0][2]
    assert message is not None and len(message) <= PROGRESS_MESSAGE_MAX
    assert "\x1b" not in message and "\x07" not in message

    monkeypatch.setenv("MUXI_MCP_LOG", "info")
    on_log = logging_callback("evil")
    await on_log(SimpleNamespace(level="info", logger="db\x1b[2J\x1b]0;owned\x07", data="hi"))
    err = capsys.readouterr().err
    assert "[mcp evil] info:" in err and "hi" in err
    assert "\x1b" not in err and "\x07" not in err


async def test_a_server_flooding_log_messages_is_cut_to_a_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from types import SimpleNamespace

    from muxi_cli.tools.mcp_hooks import LOG_RATE, logging_callback

    caplog.set_level(logging.DEBUG, logger="muxi.mcp.server")
    on_log = logging_callback("chatty")
    for i in range(5000):
        await on_log(SimpleNamespace(level="info", logger=None, data=f"line {i}"))
    passed = [r for r in caplog.records if r.name == "muxi.mcp.server.chatty"]
    assert LOG_RATE <= len(passed) <= 2 * LOG_RATE + 1
