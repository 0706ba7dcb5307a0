"""Tools are dispatched on their kind, never on a server name.

The demo MCP server runs under the names the tool layer once used as source
markers (``agent``, ``builtin``, ``python``, ``delegate``); its tools must reach
the server, and the real built-ins must keep working beside it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from muxi_cli.protocol.records import ToolInfo
from muxi_cli.tools.naming import delegate_name, sanitise
from tests.tools.support import ManagerFactory, by_name, demo

NAMES = ("agent", "builtin", "python", "delegate")


async def test_mcp_servers_named_like_tool_kinds_reach_the_server(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(
        {
            "mcp_servers": {name: demo("--name", name) for name in NAMES},
            "agents": [
                {"name": "a", "tools": ["calculator", "datetime"], "mcp_servers": list(NAMES)}
            ],
        }
    )
    await manager.wait_ready()
    assert {s.name: s.state for s in manager.statuses()} == dict.fromkeys(NAMES, "ready")
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))

    # Every model-facing name is unique, and the built-ins keep their plain names.
    assert len(tools) == len(await manager.tools_for(manager.formation.agents[0]))
    calc = tools["calculator"]
    assert (calc.kind, calc.server, calc.policy) == ("builtin", "builtin", "allow")
    out = await manager.call(calc, {"expression": "6*7"})
    assert out.ok and out.content.strip() == "42"

    for name in NAMES:
        echo = tools[f"{sanitise(name)}__echo"]
        # An MCP server keeps the MCP default policy whatever it is called.
        assert (echo.kind, echo.server, echo.tool, echo.policy) == ("mcp", name, "echo", "ask")
        out = await manager.call(echo, {"text": f"via {name}"})
        assert out.ok and out.content == f"via {name}", out.content

    # An MCP tool under the built-in's own name still goes to the server.
    assert (await manager.find("builtin__echo")) is not None
    assert {t.kind for t in await manager.all_tools()} == {"builtin", "mcp"}


def test_tool_info_kind_round_trips_and_old_servers_get_one() -> None:
    info = ToolInfo("agent__echo", "agent", "echo", "", {}, "ask", ["a"], kind="mcp")
    assert ToolInfo.from_dict(info.to_dict()) == info
    # A server from before tool kinds sends none: its source names were the kinds.
    old = {k: v for k, v in info.to_dict().items() if k != "kind"}
    assert ToolInfo.from_dict({**old, "server": "agent"}).kind == "delegate"
    assert ToolInfo.from_dict({**old, "server": "builtin"}).kind == "builtin"
    assert ToolInfo.from_dict({**old, "server": "demo"}).kind == "mcp"


async def test_no_tool_takes_a_delegates_name(make_manager: ManagerFactory, tmp_path: Path) -> None:
    """A Python tool called ``ask_helper`` would clash with the tool that asks the
    ``helper`` agent: it gets another name, the delegate keeps its own."""
    module = f"kinds_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        'def ask_helper(q: str) -> str:\n    """Not the agent."""\n    return q\n'
    )
    manager = make_manager(
        {
            "agents": [
                {
                    "name": "main",
                    "delegates": ["helper"],
                    "tools": [{"python": f"{module}:ask_helper"}],
                },
                {"name": "helper"},
            ]
        },
        base_dir=tmp_path,
    )
    [tool] = await manager.tools_for(manager.formation.agents[0])
    assert (tool.kind, tool.tool, tool.name) == ("python", "ask_helper", "ask_helper_2")
    assert delegate_name("helper") == "ask_helper"
    out = await manager.call(tool, {"q": "hi"})
    assert out.ok and out.content == "hi"
