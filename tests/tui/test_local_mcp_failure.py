"""The app over the real LocalRuntime with a real MCP server that fails to start:
the failure is announced, /mcp shows its command line and stderr, r retries it."""

from __future__ import annotations

import sys
from pathlib import Path

from textual.widgets import Static

from muxi_cli.tui.app import MuxiApp
from muxi_cli.tui.screens.chat import ChatScreen
from muxi_cli.tui.screens.mcp_servers import McpServersScreen
from tests.fakellm import FakeLLM
from tests.tui.conftest import ready, screen_text, send, until

NEEDS_TOKEN = Path(__file__).resolve().parent.parent / "mcp_servers" / "needs_token.py"


async def test_real_server_failure_is_explained_and_retried(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    path = tmp_path / "muxi.yaml"
    extra = f"""
mcp_servers:
  weather:
    command: {sys.executable}
    args: [{NEEDS_TOKEN}, {token}]
"""
    path.write_text(fake_llm.formation_yaml(extra=extra), encoding="utf-8")

    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(path))

    app = MuxiApp(factory, cursor_blink=False, config_path=str(path))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)

        def announced() -> list[str]:
            return [n.message for n in app._notifications if "'weather'" in n.message]

        await until(pilot, lambda: announced(), "the failure to be announced", timeout=30)
        assert announced()[0].startswith("'weather' failed to start: exited during startup")
        assert app.status.mcp_failed == 1

        await send(pilot, "/mcp")
        await until(pilot, lambda: isinstance(app.screen, McpServersScreen), "the MCP table")
        detail = str(app.screen.query_one("#detail", Static).render())
        assert f"command: {sys.executable} {NEEDS_TOKEN} {token}" in detail
        assert "needs_token: no token file" in detail

        token.write_text("t0ken")  # the user fixes the cause, then retries from the table
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat screen")
        await until(pilot, lambda: "'weather' is ready" in screen_text(app), "the retry", 30)
        assert app.status.mcp_failed == 0 and app.status.mcp_ready == 1
        assert len(announced()) == 1  # announced once, not again after the retry
