"""The dashboard screen (F2, /dashboard): headline figures, the period switch,
the runs in flight with their current tool, the per-user table for a local or
admin caller only, and no polling while it is hidden."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Sparkline, Static

from muxi_cli.tui.screens import dashboard
from muxi_cli.tui.screens.dashboard import DashboardScreen
from muxi_cli.tui.screens.help import HelpScreen
from muxi_cli.tui.widgets.approval import ApprovalPrompt
from tests.tui.conftest import make_app, ready, send, until
from tests.tui.fake_runtime import FakeRuntime, Route, Text, Tool, Usage

SIZE = (130, 60)


def _rows(screen: DashboardScreen, name: str) -> list[list[str]]:
    table = screen.query_one(f"#{name}", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def _text(screen: DashboardScreen, name: str) -> str:
    return str(screen.query_one(f"#{name}", Static).render())


async def test_the_dashboard_shows_figures_runs_in_flight_and_users(
    fake: FakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard, "LIVE_EVERY", 0.25)
    fake.completed_agents += ["assistant", "coder"]
    fake.script(Route("coder", "maths"), Tool("add", {"a": 1}, approval="ask"), Text("2"), Usage())
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "1+1?")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the approval prompt")
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        dash = app.screen
        assert isinstance(dash, DashboardScreen)
        await until(pilot, lambda: len(_rows(dash, "live")) == 1, "the run in flight")
        agent, user, elapsed, tool, calls, *_ = _rows(dash, "live")[0]
        assert (agent, user, calls) == ("coder", "local", "1")
        assert tool.startswith("add (demo) · waiting for approval") and ":" in elapsed
        await until(pilot, lambda: dash.snapshot is not None, "the stats")
        assert "Turns" in _text(dash, "headline") and "assistant" in _text(dash, "by-agent")
        assert dash.query_one("#users").display  # local: every user's figures
        assert [r[0] for r in _rows(dash, "users")] == []  # the fake keeps no users
        assert len(dash.query_one("#turns-chart", Sparkline).data or []) == 1

        await pilot.press("3")  # 30 days
        await until(pilot, lambda: dash.snapshot and dash.snapshot.main.since == "29d", "30 days")
        assert len(dash.query_one("#turns-chart", Sparkline).data or []) == 30

        # Hidden under another screen, it stops asking; shown again, it goes on.
        app.push_screen(HelpScreen())
        await pilot.pause()
        calls_before = fake.live_calls
        await pilot.pause(0.8)  # about three ticks
        assert fake.live_calls <= calls_before + 1  # at most the one already in flight
        app.pop_screen()
        await until(pilot, lambda: fake.live_calls > calls_before + 1, "polling again")

        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.chat, "the chat screen")
        app.chat.query_one(ApprovalPrompt).focus()
        await pilot.press("1")
        await until(pilot, lambda: not app.chat.busy, "the reply")
        await send(pilot, "/dashboard")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        dash = app.screen
        assert isinstance(dash, DashboardScreen)
        await until(pilot, lambda: dash.live is not None, "the runs in flight")
        assert _rows(dash, "live") == []
        assert "No run in flight." in str(dash.query_one("#live-note").render())


async def test_a_user_key_sees_no_user_column_and_no_user_table() -> None:
    fake = FakeRuntime(label="prod", mode="remote", role="user")
    fake.script(Route("assistant", "only"), Tool("add", {"a": 1}, approval="ask"), Text("ok"))
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "hi")
        await until(pilot, lambda: isinstance(app.focused, ApprovalPrompt), "the approval prompt")
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        dash = app.screen
        assert isinstance(dash, DashboardScreen)
        await until(pilot, lambda: dash.snapshot is not None and _rows(dash, "live"), "figures")
        table = dash.query_one("#live", DataTable)
        assert "User" not in [str(c.label) for c in table.columns.values()]
        assert _rows(dash, "live")[0][0] == "assistant"
        assert not dash.query_one("#users").display and dash.snapshot.users is None
        assert "prod" in _text(dash, "period")
        await pilot.press("ctrl+q")  # quitting with a reply waiting and the dashboard up


def test_the_figures_as_text() -> None:
    from datetime import date

    from muxi_cli.protocol.stats import StatsGroup, StatsReport, ToolStats
    from muxi_cli.tui import dashdata

    report = StatsReport(
        totals=StatsGroup(turns=4, runs=5, users=2, cost_usd=0.5, duration_p50_ms=1200),
        tools=[ToolStats("calc", calls=4, ok=2, failed=1, denied=1)],
        routed=4,
        route_cache_hits=1,
    )
    figures = dict(dashdata.headline(report))
    assert figures["Turns"] == "4 (5 runs)" and figures["Cost"] == "$0.50"
    assert figures["Tool calls"] == "4: 25% failed, 25% denied"
    assert figures["Route cache hits"] == "25% of 4" and figures["First token p50/p95"] == "–"
    days = [StatsGroup(key="2026-12-04", turns=3, cost_usd=0.25)]
    assert dashdata.day_series(days, 3, today=date(2026, 12, 6)) == ([3, 0, 0], [0.25, 0, 0])
    assert dashdata.bar(1, 2, 4) == "██" and dashdata.bar(1, 16, 1) == "▏"
    assert dashdata.bar(0, 2, 4) == ""
    assert [dashdata.clock(ms) for ms in (999, 65_000, 3_723_000)] == ["0:00", "1:05", "1:02:03"]
