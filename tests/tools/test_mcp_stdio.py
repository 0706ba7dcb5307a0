"""The demo MCP server over stdio, through ToolManager."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.tools.support import ManagerFactory, by_name, demo


async def test_tools_results_prompts_resources(
    make_manager: ManagerFactory, tmp_path: Path
) -> None:
    manager = make_manager(
        {"mcp_servers": {"demo": demo()}, "agents": [{"name": "a", "mcp_servers": ["demo"]}]}
    )
    await manager.start()
    await manager.wait_ready()
    [status] = manager.statuses()
    assert status.state == "ready" and status.transport == "stdio"
    assert status.tool_count >= 9 and status.started_ms is not None
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    assert {"demo__echo", "demo__add", "demo__fail", "demo__sleep", "demo__pixel"} <= set(tools)
    echo = tools["demo__echo"]
    assert (echo.server, echo.tool, echo.policy) == ("demo", "echo", "ask")
    assert echo.input_schema["properties"]["text"]["type"] == "string"
    assert echo.description == "Return the text unchanged."

    out = await manager.call(echo, {"text": "hi there"})
    assert out.ok and out.content == "hi there"

    add = await manager.call(tools["demo__add"], {"a": 2, "b": 3})
    assert add.ok and add.structured == {"sum": 5.0, "terms": 2}

    stats = await manager.call(tools["demo__stats"], {"values": [1, 2, 3]})
    assert stats.ok and stats.structured == {"count": 3.0, "total": 6.0}
    assert '"total": 6.0' in stats.content

    pixel = await manager.call(tools["demo__pixel"], {})
    assert pixel.ok
    assert pixel.content.splitlines() == ["a pixel", "[image: image/png, 70 bytes]"]
    assert pixel.images[0]["mime"] == "image/png" and pixel.images[0]["data"].startswith("iVBOR")

    fail = await manager.call(tools["demo__fail"], {"message": "disk on fire"})
    assert not fail.ok and "disk on fire" in fail.content

    prompts = await manager.list_prompts("demo")
    assert prompts == [
        {
            "name": "greet",
            "description": "Greet someone.",
            "arguments": [{"name": "who", "description": "", "required": True}],
        }
    ]
    assert (
        await manager.get_prompt("demo", "greet", {"who": "Ada"})
        == "user: Please greet Ada warmly."
    )
    resources = await manager.list_resources("demo")
    assert resources[0]["uri"] == "demo://readme"
    assert (
        await manager.read_resource("demo", "demo://readme")
        == "demo readme: hello from the demo server"
    )


async def test_env_cwd_and_no_secret_leak(
    make_manager: ManagerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-should-not-leak")
    work = tmp_path / "work"
    work.mkdir()
    manager = make_manager(
        {
            "mcp_servers": {"demo": demo(env={"DEMO_TOKEN": "t0k"}, cwd="work")},
            "agents": [{"name": "a", "mcp_servers": ["demo"]}],
        }
    )
    await manager.wait_ready()
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    assert (await manager.call(tools["demo__env"], {"name": "DEMO_TOKEN"})).content == "t0k"
    assert (await manager.call(tools["demo__env"], {"name": "PATH"})).content != ""
    leaked = await manager.call(tools["demo__env"], {"name": "ANTHROPIC_API_KEY"})
    assert leaked.ok and "sk-should-not-leak" not in leaked.content
    cwd = (await manager.call(tools["demo__cwd"], {})).content
    assert Path(cwd).samefile(work)


async def test_concurrent_calls_share_one_connection(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        {"mcp_servers": {"demo": demo()}, "agents": [{"name": "a", "mcp_servers": ["demo"]}]}
    )
    await manager.wait_ready()
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    results = await asyncio.gather(
        *(manager.call(tools["demo__echo"], {"text": str(i)}) for i in range(20))
    )
    assert [r.content for r in results] == [str(i) for i in range(20)]


async def test_call_timeout(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        {
            "mcp_servers": {"demo": demo(call_timeout=0.5)},
            "agents": [{"name": "a", "mcp_servers": ["demo"]}],
        }
    )
    await manager.wait_ready()
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    out = await manager.call(tools["demo__sleep"], {"seconds": 30})
    assert not out.ok and "timed out after 0.5s" in out.content
    # the connection is still good afterwards
    assert (await manager.call(tools["demo__echo"], {"text": "ok"})).content == "ok"


async def test_two_servers_with_the_same_tool_names(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        {
            "mcp_servers": {"one": demo("--name", "one"), "two": demo("--name", "two")},
            "agents": [
                {"name": "a", "mcp_servers": ["one", "two"]},
                {"name": "b", "mcp_servers": ["two"]},
            ],
        }
    )
    await manager.wait_ready()
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    assert tools["one__echo"].server == "one" and tools["two__echo"].server == "two"
    assert (await manager.call(tools["two__echo"], {"text": "2"})).content == "2"
    only_b = by_name(await manager.tools_for(manager.formation.agents[1]))
    assert "one__echo" not in only_b and "two__echo" in only_b
    everything = by_name(await manager.all_tools())
    assert {"one__echo", "two__echo"} <= set(everything)


async def test_disabled_server_is_not_started(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        {
            "mcp_servers": {"off": demo(enabled=False)},
            "agents": [{"name": "a", "mcp_servers": ["off"]}],
        }
    )
    await manager.wait_ready(timeout=5)
    [status] = manager.statuses()
    assert status.state == "disabled"
    assert await manager.tools_for(manager.formation.agents[0]) == []


async def test_cancelled_call_leaves_the_connection_usable(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        {"mcp_servers": {"demo": demo()}, "agents": [{"name": "a", "mcp_servers": ["demo"]}]}
    )
    await manager.wait_ready()
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    task = asyncio.create_task(manager.call(tools["demo__sleep"], {"seconds": 60}))
    await asyncio.sleep(0)  # let the call start
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    out = await asyncio.wait_for(manager.call(tools["demo__echo"], {"text": "still here"}), 30)
    assert out.ok and out.content == "still here"
    assert manager.statuses()[0].state == "ready"
