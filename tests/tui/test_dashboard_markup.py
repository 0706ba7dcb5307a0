"""The dashboard under attack. It draws names as text: a tool name comes from the
model (a call to a tool that does not exist is recorded under the name the model
wrote), so '[/b]' or '[@click=...]' in it, or in a server's error, must neither
crash the app nor become markup. And a server that answers badly is not asked
more often for it."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Label, Static

from muxi_cli.errors import MuxiError, NotFoundError
from muxi_cli.protocol.live import LiveReport, LiveRun, LiveTool
from muxi_cli.protocol.stats import StatsGroup, StatsReport, ToolStats
from muxi_cli.tui.screens import dashboard
from muxi_cli.tui.screens.dashboard import DashboardScreen
from tests.tui.conftest import make_app, ready, until
from tests.tui.fake_runtime import FakeRuntime

HOSTILE = "[/b]x[@click=app.quit]y[/]"


class HostileRuntime(FakeRuntime):
    """Runs in flight and stats whose names hold markup; ``fail`` makes both raise."""

    fail: str | None = None

    async def live(self, user_id: str | None = None) -> LiveReport:
        self.live_calls += 1
        if self.fail:
            raise MuxiError(self.fail, "")
        tool = LiveTool(call_id="c1", tool=HOSTILE, server=HOSTILE)
        run = LiveRun(
            run_id="r1", session_id="s1", agent=HOSTILE, user_id=HOSTILE, model=HOSTILE, tool=tool
        )
        return LiveReport(at="2026-12-06T00:00:00Z", runs=[run])

    async def stats(
        self, since: str | None = None, by: str = "agent", user_id: str | None = None
    ) -> StatsReport:
        self.stats_calls += 1
        if self.fail:
            raise MuxiError(self.fail, "")
        group = StatsGroup(key=HOSTILE, turns=1, runs=1, input_tokens=5)
        return StatsReport(
            since=since,
            by=by,
            totals=StatsGroup(turns=1, runs=1),
            groups=[group],
            tools=[ToolStats(HOSTILE, calls=1, ok=1)],
        )


def _cells(table: DataTable) -> list[str]:
    return [str(c) for i in range(table.row_count) for c in table.get_row_at(i)]


async def test_hostile_names_are_drawn_as_text() -> None:
    fake = HostileRuntime()
    app = make_app(fake)
    async with app.run_test(size=(160, 60)) as pilot:
        await ready(pilot)
        dash = DashboardScreen(fake)
        app.push_screen(dash)
        await until(pilot, lambda: dash.snapshot is not None and dash.live is not None, "figures")
        await pilot.pause()
        live = dash.query_one("#live", DataTable)
        assert any(HOSTILE in cell for cell in _cells(live))
        for name in ("by-agent", "by-model", "by-tool"):
            assert "[/b]x[@click" in str(dash.query_one(f"#{name}", Static).render()), name
        assert HOSTILE in _cells(dash.query_one("#users", DataTable))
        await pilot.pause(0.1)  # the table's cells are rendered: no MarkupError
        assert app.is_running and app.screen is dash


async def test_an_error_message_with_markup_is_shown_as_text() -> None:
    fake = HostileRuntime()
    fake.fail = "proxy said [/b] and [@click=app.quit]"
    app = make_app(fake)
    async with app.run_test(size=(160, 60)) as pilot:
        await ready(pilot)
        dash = DashboardScreen(fake)
        app.push_screen(dash)
        await until(pilot, lambda: dash.is_mounted, "the dashboard")
        note = dash.query_one("#live-note", Label)
        await until(pilot, lambda: "[/b]" in str(note.render()), "the error note")
        head = dash.query_one("#headline", Static)
        await until(pilot, lambda: "[/b]" in str(head.render()), "the stats error")
        await pilot.pause(0.1)
        assert app.is_running and app.screen is dash


class OldServerRuntime(FakeRuntime):
    """A server without ``/v1/runs/live`` (an older muxi): 404 on every ask."""

    async def live(self, user_id: str | None = None) -> LiveReport:
        self.live_calls += 1
        raise NotFoundError("no such route", "")


async def test_an_older_server_is_asked_for_stats_every_few_seconds_not_every_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dashboard, "LIVE_EVERY", 0.05)
    monkeypatch.setattr(dashboard, "STATS_EVERY", 60.0)
    fake = OldServerRuntime()
    app = make_app(fake)
    async with app.run_test(size=(160, 60)) as pilot:
        await ready(pilot)
        dash = DashboardScreen(fake)
        app.push_screen(dash)
        await until(pilot, lambda: dash.snapshot is not None, "the first stats")
        asked = fake.stats_calls
        await pilot.pause(0.6)  # a dozen live ticks, no stats tick
        assert fake.live_calls == 1  # asked once, then never again
        assert fake.stats_calls == asked  # and the stats wait for their own tick
        assert "older muxi" in str(dash.query_one("#live-note", Label).render())


class DownRuntime(FakeRuntime):
    """A server that fails every ask for the runs in flight (down, or erring)."""

    async def live(self, user_id: str | None = None) -> LiveReport:
        self.live_calls += 1
        raise MuxiError("connection refused", "")


async def test_a_failing_server_is_asked_for_stats_every_few_seconds_not_every_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dashboard, "LIVE_EVERY", 0.05)
    monkeypatch.setattr(dashboard, "STATS_EVERY", 60.0)
    fake = DownRuntime()
    app = make_app(fake)
    async with app.run_test(size=(160, 60)) as pilot:
        await ready(pilot)
        dash = DashboardScreen(fake)
        app.push_screen(dash)
        await until(pilot, lambda: dash.snapshot is not None, "the first stats")
        asked, tried = fake.stats_calls, fake.live_calls
        await pilot.pause(0.6)  # a dozen live ticks, no stats tick
        assert fake.live_calls > tried  # the runs in flight are asked for again
        assert fake.stats_calls == asked  # the stats wait for their own tick
        assert "connection refused" in str(dash.query_one("#live-note", Label).render())
