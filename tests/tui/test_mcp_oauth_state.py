"""The chat app's /mcp shows a remote server that needs an OAuth login, and why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from muxi_cli.tui.app import MuxiApp
from muxi_cli.tui.screens.mcp_servers import McpServersScreen
from tests.fakellm import FakeLLM
from tests.tools.test_mcp_oauth import oauth_base  # the fixture: the test server
from tests.tui.conftest import ready, send, until

__all__ = ["oauth_base"]


@pytest.fixture
def formation(fake_llm: FakeLLM, tmp_path: Path, oauth_base: str) -> Iterator[Path]:
    path = tmp_path / "muxi.yaml"
    extra = f"\nmcp_servers:\n  secure:\n    url: {oauth_base}/mcp\n"
    path.write_text(fake_llm.formation_yaml(extra=extra), encoding="utf-8")
    yield path


async def test_mcp_table_says_login_required(formation: Path) -> None:
    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(formation))

    app = MuxiApp(factory, cursor_blink=False, config_path=str(formation))
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await until(pilot, lambda: app.status.mcp_failed == 1, "the server to settle", timeout=30)
        await send(pilot, "/mcp")
        await until(pilot, lambda: isinstance(app.screen, McpServersScreen), "the MCP table")
        row = app.screen.query_one(DataTable).get_row_at(0)
        assert [str(c) for c in row[:3]] == ["secure", "http", "failed · login required"]
        detail = str(app.screen.query_one("#detail", Static).render())
        assert "login required: run `muxi mcp login secure`" in detail
