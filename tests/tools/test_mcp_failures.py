"""Broken and slow servers never block the others, and each failure is reported once."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.net import free_port
from tests.tools.support import SERVERS, ManagerFactory, by_name, demo

PY = sys.executable


async def test_broken_servers_are_reported_once_with_their_stderr(
    make_manager: ManagerFactory,
) -> None:
    port = free_port()
    manager = make_manager(
        {
            "mcp_servers": {
                "good": demo(),
                "missing": {"command": "muxi-no-such-command-xyz"},
                "exits": {"command": PY, "args": [str(SERVERS / "exits_at_start.py")]},
                "hangs": {
                    "command": PY,
                    "args": [str(SERVERS / "hangs_at_start.py")],
                    "startup_timeout": 1.5,
                },
                "nohttp": {"url": f"http://user:pw@127.0.0.1:{port}/mcp?token=s3cret"},
            },
            "agents": [
                {"name": "a", "mcp_servers": ["good", "missing", "exits", "hangs", "nohttp"]}
            ],
        }
    )
    await manager.start()
    await manager.wait_ready()
    states = {s.name: s for s in manager.statuses()}
    assert states["good"].state == "ready"
    assert states["missing"].state == "failed"
    assert "command not found: muxi-no-such-command-xyz" in (states["missing"].error or "")
    assert states["exits"].state == "failed"
    assert (states["exits"].error or "").startswith("exited during startup")
    assert "missing API token, cannot continue" in (states["exits"].error or "")
    assert states["hangs"].state == "failed"
    assert "did not answer within 1.5s" in (states["hangs"].error or "")
    assert states["nohttp"].state == "failed"
    assert (states["nohttp"].error or "").startswith(
        f"could not connect to http://127.0.0.1:{port}/mcp: ConnectError"
    )
    assert "s3cret" not in (states["nohttp"].error or "") and "pw" not in (
        states["nohttp"].error or ""
    )

    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    assert all(t.server == "good" for t in tools.values())
    assert (await manager.call(tools["good__echo"], {"text": "still fine"})).content == "still fine"

    first = {f.name for f in manager.take_new_failures()}
    assert first == {"missing", "exits", "hangs", "nohttp"}
    assert manager.take_new_failures() == []
    assert {f.name for f in manager.failures()} == first


async def test_hanging_server_times_out_with_its_stderr(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        {
            "mcp_servers": {
                "hangs": {
                    "command": PY,
                    "args": [str(SERVERS / "hangs_at_start.py")],
                    "startup_timeout": 3,
                }
            }
        }
    )
    await manager.wait_ready()
    [status] = manager.statuses()
    assert status.state == "failed"
    assert "did not answer within 3s (startup_timeout)" in (status.error or "")
    assert "waiting for something that never comes" in (status.error or "")


async def test_slow_server_does_not_block_start_or_other_tools(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(
        {
            "mcp_servers": {"slow": demo("--delay-start", "2", "--name", "slow")},
            "agents": [{"name": "a", "tools": ["calculator"], "mcp_servers": ["slow"]}],
        }
    )
    await manager.start()  # returns at once
    agent = manager.formation.agents[0]
    early = by_name(await manager.tools_for(agent))
    assert set(early) == {"calculator"}
    assert manager.statuses()[0].state == "starting"
    await manager.wait_ready()
    late = by_name(await manager.tools_for(agent))
    assert "slow__echo" in late


async def test_server_dying_mid_call_is_restarted_on_next_use(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        {"mcp_servers": {"demo": demo()}, "agents": [{"name": "a", "mcp_servers": ["demo"]}]}
    )
    await manager.wait_ready()
    agent = manager.formation.agents[0]
    tools = by_name(await manager.tools_for(agent))
    crashed = await manager.call(tools["demo__crash"], {})
    assert not crashed.ok
    assert "stopped while running 'crash'" in crashed.content
    [status] = manager.statuses()
    assert status.state == "failed"
    assert "crashing on purpose" in (status.error or "")
    # Its tools stay offered: the next use restarts the server.
    assert "demo__echo" in by_name(await manager.tools_for(agent))
    [failure] = manager.take_new_failures()
    assert failure.name == "demo"
    out = await manager.call(tools["demo__echo"], {"text": "back"})
    assert out.ok and out.content == "back"
    assert manager.statuses()[0].state == "ready"
    # It can die and come back again.
    assert not (await manager.call(tools["demo__crash"], {})).ok
    assert (await manager.call(tools["demo__echo"], {"text": "again"})).content == "again"
    assert len(manager.take_new_failures()) <= 1


async def test_in_flight_calls_get_an_error_when_the_server_dies(
    make_manager: ManagerFactory,
) -> None:
    import asyncio

    manager = make_manager(
        {"mcp_servers": {"demo": demo()}, "agents": [{"name": "a", "mcp_servers": ["demo"]}]}
    )
    await manager.wait_ready()
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    slow = asyncio.create_task(manager.call(tools["demo__sleep"], {"seconds": 60}))
    crash = await manager.call(tools["demo__crash"], {})
    sleeper = await asyncio.wait_for(slow, 30)
    assert not crash.ok and not sleeper.ok
    assert "stopped while running 'sleep'" in sleeper.content


async def test_malformed_arguments(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        {"mcp_servers": {"demo": demo()}, "agents": [{"name": "a", "mcp_servers": ["demo"]}]}
    )
    await manager.wait_ready()
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    wrong_type = await manager.call(tools["demo__add"], {"a": "not a number", "b": 1})
    assert not wrong_type.ok and "a" in wrong_type.content
    missing = await manager.call(tools["demo__echo"], {})
    assert not missing.ok and "text" in missing.content
    not_object = await manager.call(tools["demo__echo"], "text=hi")  # type: ignore[arg-type]
    assert not not_object.ok and "JSON object" in not_object.content
    # The server is still healthy.
    assert (await manager.call(tools["demo__echo"], {"text": "ok"})).ok


async def test_unknown_server_and_tool(make_manager: ManagerFactory) -> None:
    import pytest

    from muxi_cli.errors import NotFoundError

    manager = make_manager({"mcp_servers": {"demo": demo()}})
    with pytest.raises(NotFoundError, match="no MCP server named 'nope'"):
        await manager.list_prompts("nope")
    with pytest.raises(NotFoundError, match="has no tool 'nope'"):
        await manager.server_tool("demo", "nope")
    echo = await manager.server_tool("demo", "echo")
    assert echo.name == "demo__echo"


async def test_failed_server_requests_raise_tool_errors(make_manager: ManagerFactory) -> None:
    import pytest

    from muxi_cli.errors import ToolError

    manager = make_manager(
        {"mcp_servers": {"exits": {"command": PY, "args": [str(SERVERS / "exits_at_start.py")]}}}
    )
    await manager.wait_ready()
    with pytest.raises(ToolError, match="not available"):
        await manager.list_resources("exits")


async def test_attach_and_detach_at_run_time(make_manager: ManagerFactory) -> None:
    from muxi_cli.config.schema import MCPServerConfig

    manager = make_manager({"agents": [{"name": "a", "mcp_servers": []}]})
    await manager.start()
    await manager.attach("extra", MCPServerConfig.model_validate(demo()))
    await manager.wait_ready()
    assert [s.name for s in manager.statuses()] == ["extra"]
    echo = await manager.server_tool("extra", "echo")
    assert echo.policy == "ask"
    assert (await manager.call(echo, {"text": "x"})).content == "x"
    await manager.detach("extra")
    assert manager.statuses() == []
    out = await manager.call(echo, {"text": "x"})
    assert not out.ok and "unknown MCP server" in out.content


async def test_restarts_give_up_after_repeated_failures(
    make_manager: ManagerFactory, tmp_path: Path
) -> None:
    marker = tmp_path / "ran-once"
    manager = make_manager(
        {
            "mcp_servers": {
                "once": {"command": PY, "args": [str(SERVERS / "once_server.py"), str(marker)]}
            },
            "agents": [{"name": "a", "mcp_servers": ["once"]}],
        }
    )
    await manager.wait_ready()
    agent = manager.formation.agents[0]
    tools = by_name(await manager.tools_for(agent))
    assert not (await manager.call(tools["once__crash"], {})).ok
    for _ in range(3):
        assert "once__echo" in by_name(await manager.tools_for(agent))
        out = await manager.call(tools["once__echo"], {"text": "x"})
        assert not out.ok and "not available: exited during startup" in out.content
        assert "refusing to start again" in out.content
    assert await manager.tools_for(agent) == []


async def test_wait_ready_for_some_servers_only(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        {
            "mcp_servers": {
                "quick": demo(),
                "hangs": {
                    "command": PY,
                    "args": [str(SERVERS / "hangs_at_start.py")],
                    "startup_timeout": 60,
                },
            }
        }
    )
    await manager.wait_ready(servers=["quick"])
    states = {s.name: s.state for s in manager.statuses()}
    assert states == {"quick": "ready", "hangs": "starting"}


def test_stderr_tail_is_bounded(tmp_path: Path) -> None:
    import os

    from muxi_cli.tools import stderr_tail

    tail = stderr_tail.StderrTail(limit=100)
    try:
        fd = tail.file.fileno()
        os.write(fd, b"old line\n" * 200_000)
        os.write(fd, b"last words\n")
        assert tail.tail(lines=1) == "last words"
        tail.trim()
        assert os.fstat(fd).st_size == 0
        os.write(fd, b"after trim\n")
        assert tail.tail(lines=2) == "last words\nafter trim"
    finally:
        tail.close()
    assert tail.tail() == ""
