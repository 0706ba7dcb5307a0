"""The demo server over streamable HTTP and legacy SSE, and a real third-party server."""

from __future__ import annotations

import json
import sys

from tests.tools.support import ManagerFactory, by_name, start_http_demo, stop_proc


async def test_streamable_http(make_manager: ManagerFactory, http_demo: str) -> None:
    manager = make_manager(
        {
            "mcp_servers": {"web": {"url": http_demo, "headers": {"X-Team": "blue"}}},
            "agents": [{"name": "a", "mcp_servers": ["web"]}],
        }
    )
    await manager.wait_ready()
    [status] = manager.statuses()
    assert (status.state, status.transport) == ("ready", "http")
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    assert (await manager.call(tools["web__echo"], {"text": "over http"})).content == "over http"
    assert (await manager.call(tools["web__header"], {"name": "X-Team"})).content == "blue"
    add = await manager.call(tools["web__add"], {"a": 1.5, "b": 1})
    assert add.structured == {"sum": 2.5, "terms": 2}
    assert (
        await manager.read_resource("web", "demo://readme")
        == "demo readme: hello from the demo server"
    )


async def test_legacy_sse(make_manager: ManagerFactory, sse_demo: str) -> None:
    manager = make_manager(
        {
            "mcp_servers": {"old": {"url": sse_demo}},
            "agents": [{"name": "a", "mcp_servers": ["old"]}],
        }
    )
    await manager.wait_ready()
    [status] = manager.statuses()
    assert (status.state, status.transport) == ("ready", "sse")
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    assert (await manager.call(tools["old__echo"], {"text": "over sse"})).content == "over sse"


async def test_http_server_dying_mid_call_then_coming_back(make_manager: ManagerFactory) -> None:
    proc, port = start_http_demo("--http")
    try:
        manager = make_manager(
            {
                "mcp_servers": {"web": {"url": f"http://127.0.0.1:{port}/mcp"}},
                "agents": [{"name": "a", "mcp_servers": ["web"]}],
            }
        )
        await manager.wait_ready()
        tools = by_name(await manager.tools_for(manager.formation.agents[0]))
        crashed = await manager.call(tools["web__crash"], {})
        assert not crashed.ok and "stopped while running 'crash'" in crashed.content
        proc.wait(timeout=10)
        down = await manager.call(tools["web__echo"], {"text": "x"})
        assert not down.ok and "not available" in down.content
    finally:
        stop_proc(proc)


async def test_real_time_server(make_manager: ManagerFactory) -> None:
    """mcp-server-time (a third-party package installed in the venv), end to end."""
    manager = make_manager(
        {
            "mcp_servers": {
                "time": {
                    "command": sys.executable,
                    "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
                }
            },
            "agents": [{"name": "a", "mcp_servers": ["time"]}],
        }
    )
    await manager.wait_ready()
    [status] = manager.statuses()
    assert status.state == "ready", status.error
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    assert {"time__get_current_time", "time__convert_time"} <= set(tools)
    out = await manager.call(tools["time__get_current_time"], {"timezone": "Europe/Paris"})
    assert out.ok, out.content
    data = json.loads(out.content)
    assert data["timezone"] == "Europe/Paris" and "datetime" in data
    converted = await manager.call(
        tools["time__convert_time"],
        {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
    )
    assert converted.ok and "21:00" in converted.content
    bad = await manager.call(tools["time__get_current_time"], {"timezone": "Nowhere/Land"})
    assert not bad.ok
