"""The dashboard through a server (RemoteRuntime over HTTP): a user key sees
neither another user's run in flight nor the per-user table; an admin key sees
both, with user ids."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import DataTable

from muxi_cli.protocol.records import ChatRequest
from muxi_cli.protocol.turn import Turn
from muxi_cli.tui.screens.dashboard import DashboardScreen
from tests.server.conftest import Served, served, settings  # noqa: F401  (fixtures)
from tests.server.fakeruntime import Script
from tests.tui.conftest import make_app, ready, until

pytestmark = pytest.mark.slow


async def _drain(turn: Turn) -> None:
    async for _ in turn.events():
        pass


async def _dashboard(srv: Served, key: str, admin: bool) -> tuple[list[list[str]], list[str]]:
    """The runs-in-flight rows and columns the dashboard shows to ``key``."""
    app = make_app(srv.remote(key))
    async with app.run_test(size=(130, 50)) as pilot:
        await ready(pilot)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        dash = app.screen
        assert isinstance(dash, DashboardScreen)
        await until(pilot, lambda: dash.live is not None and dash.snapshot, "the figures")
        table = dash.query_one("#live", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        columns = [str(c.label) for c in table.columns.values()]
        if admin:
            await until(pilot, lambda: dash.query_one("#users").display, "the users table")
        else:
            assert not dash.query_one("#users").display
        await pilot.press("ctrl+q")
    return rows, columns


async def test_a_user_key_sees_only_its_own_runs_and_an_admin_every_users(
    served: Served,  # noqa: F811
) -> None:
    hold = asyncio.Event()
    script = Script(text="slow words", hold=hold)
    served.runtime.script(script)
    bob = served.remote(served.bob)
    events = asyncio.create_task(_drain(await bob.chat(ChatRequest(message="hi"))))
    try:
        await asyncio.wait_for(script.started.wait(), 10)  # bob's turn holds after a word
        rows, columns = await _dashboard(served, served.alice, admin=False)
        assert rows == [] and "User" not in columns
        rows, columns = await _dashboard(served, served.admin, admin=True)
        assert [r[:2] for r in rows] == [["assistant", "bob"]] and "User" in columns
    finally:
        hold.set()
        await asyncio.wait_for(events, 10)
        await bob.aclose()
