"""`/mcp attach|detach|inspect` in the chat app (a fake runtime records the calls)."""

from __future__ import annotations

import sys
from typing import Any

from muxi_cli.errors import NotFoundError
from muxi_cli.protocol.records import ServerInfo
from muxi_cli.tui.mcp_inspect import McpInspectScreen
from muxi_cli.tui.screens.chat import ChatScreen
from tests.mcpdev.support import SERVERS
from tests.tui.conftest import SIZE, make_app, ready, send, until
from tests.tui.fake_runtime import FakeRuntime

PY = sys.executable


class AttachingRuntime(FakeRuntime):
    def __init__(self) -> None:
        super().__init__()
        self.attached: list[tuple[str, dict[str, Any]]] = []
        self.detached: list[str] = []

    async def mcp_attach(
        self, name: str, server: dict[str, Any], agents: list[str] | None = None
    ) -> ServerInfo:
        self.attached.append((name, server))
        info = ServerInfo(name=name, transport="stdio", state="ready", tool_count=3, started_ms=5)
        self.server_list = [*self.server_list, info]
        return ServerInfo(name=name, transport="stdio", state="starting")

    async def mcp_detach(self, name: str) -> None:
        if name not in {s.name for s in self.server_list}:
            raise NotFoundError(f"no MCP server named {name!r}", "see /mcp")
        self.detached.append(name)
        self.server_list = [s for s in self.server_list if s.name != name]


def transcript_text(app: Any) -> str:
    return "\n".join(
        str(getattr(r, "text", "")) + str(getattr(r, "message", ""))
        for r in app.chat.transcript.records
    )


async def test_attach_and_detach_through_the_runtime() -> None:
    runtime = AttachingRuntime()
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, f"/mcp attach --name weather {PY} {SERVERS / 'demo_server.py'}")
        await until(
            pilot, lambda: "'weather' is ready: 3 tool(s)" in transcript_text(app), "the ready note"
        )
        name, server = runtime.attached[0]
        assert name == "weather"
        assert server["command"] == PY and server["args"] == [str(SERVERS / "demo_server.py")]
        await send(pilot, "/mcp detach weather")
        await until(
            pilot,
            lambda: "Detached MCP server 'weather'" in transcript_text(app),
            "the detach note",
        )
        assert runtime.detached == ["weather"]
        await send(pilot, "/mcp detach nothing-here")
        await until(
            pilot, lambda: "no MCP server named 'nothing-here'" in transcript_text(app), "the error"
        )
        await send(pilot, "/mcp frobnicate")
        await until(
            pilot, lambda: "unknown /mcp command 'frobnicate'" in transcript_text(app), "usage"
        )


async def test_inspect_opens_the_inspector_and_esc_comes_back() -> None:
    app = make_app(AttachingRuntime())
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await send(pilot, f"/mcp inspect {PY} {SERVERS / 'demo_server.py'}")
        await until(pilot, lambda: isinstance(app.screen, McpInspectScreen), "the inspector")
        screen = app.screen
        assert isinstance(screen, McpInspectScreen)
        await until(pilot, screen.loaded.is_set, "the listing", timeout=30)
        assert screen.inventory is not None and len(screen.inventory.tools) == 11
        await pilot.press("escape")  # the tree has focus: Esc closes the inspector
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat screen")


class ResourceRuntime(FakeRuntime):
    async def mcp_resources(self, server: str | None = None) -> list[dict[str, Any]]:
        return [
            {"server": "docs", "uri": "docs://guide", "name": "guide", "description": "The guide"}
        ]

    async def mcp_read_resource(self, server: str, uri: str) -> str:
        if (server, uri) != ("docs", "docs://guide"):
            raise NotFoundError(f"no resource {uri!r} on {server!r}", "see /mcp resources")
        return "Step 1: unplug it. Step 2: plug it back in."

    async def mcp_prompts(self, server: str | None = None) -> list[dict[str, Any]]:
        return [{"server": "docs", "name": "explain", "arguments": [{"name": "topic"}]}]

    async def mcp_get_prompt(
        self, server: str, name: str, arguments: dict[str, str] | None = None
    ) -> str:
        return f"Explain {(arguments or {}).get('topic')} simply."


async def test_read_attaches_a_resource_to_the_next_message() -> None:
    runtime = ResourceRuntime()
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/mcp read docs docs://guide")
        await until(pilot, lambda: "Attached docs://guide" in transcript_text(app), "the note")
        await send(pilot, "summarise the guide")
        await until(pilot, lambda: bool(runtime.requests), "the request")
        request = runtime.requests[-1]
        assert request.message == "summarise the guide"
        assert [(a.name, a.content) for a in request.attachments] == [
            ("docs:docs://guide", "Step 1: unplug it. Step 2: plug it back in.")
        ]
        await send(pilot, "/mcp read docs docs://nope")
        await until(pilot, lambda: "no resource 'docs://nope'" in transcript_text(app), "error")


async def test_prompt_fills_the_input_and_listings_open() -> None:
    runtime = ResourceRuntime()
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "/mcp prompt docs explain topic=DNS")
        await until(pilot, lambda: app.chat.prompt.text == "Explain DNS simply.", "the prompt")
        app.chat.prompt.clear_input()
        await send(pilot, "/mcp resources")
        await until(pilot, lambda: type(app.screen).__name__ == "TableScreen", "the table")
