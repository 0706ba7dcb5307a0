"""The inspector screen, driven with Pilot against the demo server."""

from __future__ import annotations

import asyncio
import json

from textual.widgets import Input, Select, TextArea, Tree

from muxi_cli.mcpdev.session import DevSession
from muxi_cli.tui.mcp_inspect import McpInspectApp, McpInspectScreen
from tests.mcpdev.support import server_target

WAIT = 30


async def run_and_wait(pilot: object, screen: McpInspectScreen, *keys: str) -> None:
    screen.results.clear()
    await pilot.press(*keys)  # type: ignore[attr-defined]
    await asyncio.wait_for(screen.results.wait(), WAIT)


def tree_leaf(screen: McpInspectScreen, label: str) -> object:
    tree = screen.query_one("#browser", Tree)
    stack = [tree.root]
    while stack:
        node = stack.pop()
        if str(node.label) == label and node.data is not None:
            return node
        stack.extend(node.children)
    raise AssertionError(f"no {label!r} in the tree")


async def test_browse_fill_call_read_render() -> None:
    app = McpInspectApp(DevSession(server_target("demo_server.py"), timeout=10))
    async with app.run_test(size=(120, 45)) as pilot:
        await pilot.pause()
        screen = app.screen_ref
        assert screen is not None
        await asyncio.wait_for(screen.loaded.wait(), WAIT)
        await pilot.pause()
        tree = screen.query_one("#browser", Tree)
        assert str(tree.root.label) == "demo"
        assert screen.current is not None and screen.current[1]["name"] == "echo"

        # Enter on the tool focuses its first input; type, Ctrl+R calls it.
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.focused, Input) and app.focused.id == "field-0"
        await pilot.press(*"hello there")
        await run_and_wait(pilot, screen, "ctrl+r")
        assert screen.last_outcome is not None and screen.last_outcome.status == "ok"
        raw = json.loads(screen.query_one("#result", TextArea).text)
        assert raw["content"][0]["text"] == "hello there"

        # Down to `add`: two number inputs; Enter in an input calls the tool.
        await pilot.press("escape", "down")
        await pilot.pause()
        assert screen.current[1]["name"] == "add"
        await pilot.press("enter", "2", "tab", "3", ".", "5")
        await run_and_wait(pilot, screen, "enter")
        assert screen.last_outcome.structured == {"sum": 5.5, "terms": 2}

        # A tool error is shown as such, with the raw isError result.
        await pilot.press("escape", "down")
        await pilot.pause()
        assert screen.current[1]["name"] == "fail"
        await run_and_wait(pilot, screen, "ctrl+r")
        assert screen.last_outcome.status == "error"
        assert json.loads(screen.query_one("#result", TextArea).text)["isError"] is True

        # F2: arguments as one JSON object (prefilled with an example).
        screen.query_one("#browser", Tree).focus()
        tree.move_cursor(tree_leaf(screen, "stats"))
        await pilot.pause()
        assert screen.current[1]["name"] == "stats"
        await pilot.press("f2")
        await pilot.pause()
        editor = screen.query_one("#json-args", TextArea)
        assert json.loads(editor.text) == {"values": [1]}
        editor.text = '{"values": [1, 2, 3.5]}'
        await run_and_wait(pilot, screen, "ctrl+r")
        assert screen.last_outcome.structured == {"count": 3.0, "total": 6.5}
        editor.text = "[not json"
        await run_and_wait(pilot, screen, "ctrl+r")
        assert "Not sent" in str(screen.query_one("#status").render())

        # A resource is read, a prompt rendered with its argument.
        tree.focus()
        tree.move_cursor(tree_leaf(screen, "demo://readme"))
        await pilot.pause()
        await run_and_wait(pilot, screen, "ctrl+r")
        assert "hello from the demo server" in screen.last_outcome.text
        tree.move_cursor(tree_leaf(screen, "greet"))
        await pilot.pause()
        await pilot.press("enter", *"Ada")
        await run_and_wait(pilot, screen, "enter")
        assert screen.last_outcome.text == "user: Please greet Ada warmly."

        # Ctrl+L reconnects (a new server process) and lists again.
        tree.focus()
        screen.loaded.clear()
        await pilot.press("ctrl+l")
        await asyncio.wait_for(screen.loaded.wait(), WAIT)
        await pilot.pause()
        assert screen.inventory is not None and len(screen.inventory.tools) == 11
        assert screen.current is not None and screen.current[1]["name"] == "echo"

        # Esc from the tree leaves the stand-alone app.
        tree.focus()
        assert app.return_code is None
        await pilot.press("escape")
        await pilot.pause()
        assert app.return_code == 0


async def test_connection_failure_is_shown_in_place() -> None:
    app = McpInspectApp(DevSession(server_target("exits_at_start.py"), timeout=10))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen_ref
        assert screen is not None
        await asyncio.wait_for(screen.loaded.wait(), WAIT)
        await pilot.pause()
        assert screen.error.endswith("exited during startup")
        assert "missing API token" in screen.query_one("#result", TextArea).text
        assert str(screen.query_one("#browser", Tree).root.label) == "not connected"


def test_field_widgets_follow_the_schema() -> None:
    from muxi_cli.mcpdev.forms import tool_fields
    from muxi_cli.tui.mcp_inspect.screen import field_widget

    fields = tool_fields(
        {
            "type": "object",
            "properties": {
                "n": {"type": "integer"},
                "flag": {"type": "boolean", "default": True},
                "unit": {"enum": ["c", "f"]},
                "obj": {"type": "object"},
            },
        }
    )
    widgets = [field_widget(f, f"field-{i}") for i, f in enumerate(fields)]
    assert isinstance(widgets[0], Input) and widgets[0].type == "integer"
    assert isinstance(widgets[1], Select) and isinstance(widgets[2], Select)
    assert isinstance(widgets[3], TextArea)
