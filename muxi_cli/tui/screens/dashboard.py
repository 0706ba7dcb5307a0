"""The dashboard: the figures of the recorded runs and the runs in flight, live.

It asks ``runtime.live()`` about every second and ``runtime.stats()`` every few
seconds, in workers, one request in flight at a time (stats asked for meanwhile
go next), so a slow server never blocks the screen or piles requests up. Polling stops while
the screen is hidden (another screen on top) and resumes when it shows again.
Elapsed times tick between answers with this machine's clock.

A local runtime or an admin key sees every user's runs and a per-user table;
a user key sees its own figures only (the server scopes both answers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Sparkline, Static

from muxi_cli.errors import MuxiError, NotFoundError
from muxi_cli.tui import dashdata, formatting
from muxi_cli.tui.dashdata import PERIODS, Snapshot

if TYPE_CHECKING:
    from textual.timer import Timer

    from muxi_cli.protocol.live import LiveReport
    from muxi_cli.runtime.base import Runtime

log = logging.getLogger(__name__)

#: Seconds between asking for the runs in flight, and for the stats.
LIVE_EVERY = 1.0
STATS_EVERY = 5.0

LIVE_COLUMNS = ("Agent", "Elapsed", "Current tool", "Tools", "Tokens", "Model")
USER_COLUMNS = ("User", "Turns", "Tokens in / out", "Cost", "Turn p50", "Failed")


class DashboardScreen(Screen[None]):
    DEFAULT_CSS = """
    DashboardScreen { layout: vertical; }
    DashboardScreen #period { height: 1; padding: 0 1; background: $panel; }
    DashboardScreen #body { padding: 0 1; }
    DashboardScreen .section { color: $accent; text-style: bold; margin: 1 0 0 0; }
    DashboardScreen #headline { height: auto; }
    DashboardScreen #charts, DashboardScreen #bars { height: auto; }
    DashboardScreen #charts > Vertical { width: 1fr; height: auto; margin: 0 2 0 0; }
    DashboardScreen #bars > Static { width: 1fr; height: auto; margin: 0 2 0 0; }
    DashboardScreen Sparkline { height: 3; }
    DashboardScreen DataTable { height: auto; max-height: 14; }
    DashboardScreen .muted { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close"),
        Binding("1", "period(0)", "Today"),
        Binding("2", "period(1)", "7 days"),
        Binding("3", "period(2)", "30 days"),
        Binding("p", "next_period", "Period", show=False),
        Binding("r", "refresh_now", "Refresh"),
    ]

    def __init__(self, runtime: Runtime, period: int = 0) -> None:
        super().__init__()
        self.runtime = runtime
        self.period = period
        self.snapshot: Snapshot | None = None
        self.live: LiveReport | None = None
        #: When :attr:`live` arrived (this machine's monotonic clock): elapsed times tick from it.
        self._live_at = 0.0
        #: A request is in flight (one at a time: live and stats take turns).
        self._busy = False
        #: Stats were asked for while a request was in flight, or while hidden.
        self._stats_due = False
        self._hidden = False
        #: The server has no ``/v1/runs/live`` (an older muxi): stop asking.
        self._no_live = False
        self._polls: list[Timer] = []
        #: The period the shown snapshot is for (a switch re-asks at once).
        self._shown_period = -1

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="period")
        with VerticalScroll(id="body"):
            yield Static("Loading…", id="headline")
            with Horizontal(id="charts"):
                with Vertical():
                    yield Label("Turns per day", classes="section", id="turns-title")
                    yield Sparkline([], summary_function=max, id="turns-chart")
                with Vertical():
                    yield Label("Cost per day", classes="section", id="cost-title")
                    yield Sparkline([], summary_function=max, id="cost-chart")
            with Horizontal(id="bars"):
                yield Static("", id="by-agent")
                yield Static("", id="by-model")
                yield Static("", id="by-tool")
            yield Label("Runs in flight", classes="section")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="live")
            yield Label("", classes="muted", id="live-note")
            yield Label("Users", classes="section", id="users-title")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="users")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#users", DataTable).add_columns(*USER_COLUMNS)
        for widget in ("#users-title", "#users"):
            self.query_one(widget).display = False
        self._show_period()
        self._stats_due = True  # asked for right after the first live answer (or failure)
        self._polls = [
            self.set_interval(LIVE_EVERY, self._tick_live),
            self.set_interval(STATS_EVERY, self._tick_stats),
        ]
        self._tick_live()

    # -- polling ----------------------------------------------------------------------------

    def on_screen_suspend(self) -> None:
        self._hidden = True
        for timer in self._polls:
            timer.pause()

    def on_screen_resume(self) -> None:
        self._hidden = False
        if not self._polls:
            return  # not mounted yet: on_mount starts them
        for timer in self._polls:
            timer.resume()
        self._stats_due = True
        self._tick_live()

    def _tick_live(self) -> None:
        self._draw_live()  # the elapsed times tick even while an answer is slow
        if self._busy or self._hidden:
            return
        if self._no_live:
            if self._stats_due:  # stats asked for meanwhile; else they wait for their tick
                self._tick_stats()
            return
        self._start(self._fetch_live())

    def _tick_stats(self) -> None:
        if self._busy or self._hidden:
            self._stats_due = True  # asked for as soon as the request in flight is answered
            return
        self._stats_due = False
        self._start(self._fetch_stats())

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one request in a worker: never more than one in flight."""
        self._busy = True
        self.run_worker(work, group="dashboard", exit_on_error=False)

    def _done(self) -> None:
        self._busy = False
        if self._stats_due:
            self._tick_stats()

    async def _fetch_live(self) -> None:
        try:
            await self._ask_live()
        finally:
            self._done()

    async def _fetch_stats(self) -> None:
        try:
            await self._ask_stats()
        finally:
            self._done()

    async def _ask_live(self) -> None:
        first = self.live is None
        try:
            self.live = await self.runtime.live()
            self._live_at = time.monotonic()
            self._note("")
            if first:  # the first answer says whether this caller sees every user
                self._stats_due = True
        except NotFoundError:
            self._no_live = True
            self._note("This server does not list runs in flight (an older muxi).")
        except Exception as exc:
            self._note(f"Could not get the runs in flight: {_message(exc)}")
        self._draw_live()

    async def _ask_stats(self) -> None:
        period = self.period
        since = PERIODS[period][2]
        every_user = self.live is not None and self.live.all_users
        try:
            main = await self.runtime.stats(since=since, by="agent")
            models = await self.runtime.stats(since=since, by="model")
            days = await self.runtime.stats(since=since, by="day")
            users = (
                (await self.runtime.stats(since=since, by="user")).groups if every_user else None
            )
        except Exception as exc:
            self.query_one("#headline", Static).update(
                Text(f"Could not get the stats: {_message(exc)}")  # a str would be markup
            )
            return
        if period != self.period or (not every_user and self.live and self.live.all_users):
            # Switched period meanwhile, or learnt meanwhile that this caller sees every user.
            self._stats_due = True
            return
        self.snapshot = Snapshot(main, models.groups, days.groups, users)
        self._shown_period = period
        self._draw_stats()

    # -- drawing ----------------------------------------------------------------------------

    def _show_period(self) -> None:
        labels = [
            f"[b reverse] {key} {label} [/]" if i == self.period else f" {key} {label} "
            for i, (key, label, _, _) in enumerate(PERIODS)
        ]
        where = escape(self.runtime.label)  # a server's URL is text in this markup
        self.query_one("#period", Static).update(f"Dashboard · {where} · " + " ".join(labels))

    def _draw_stats(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        figures = dashdata.headline(snap.main)
        width = max(len(label) for label, _ in figures)
        self.query_one("#headline", Static).update(
            "\n".join(f"[b]{label:<{width}}[/]  {value}" for label, value in figures)
        )
        days = PERIODS[self._shown_period][3]
        turns, cost = dashdata.day_series(snap.days, days)
        for name, series in (("turns", turns), ("cost", cost)):
            chart = self.query_one(f"#{name}-chart", Sparkline)
            chart.data = series
            chart.styles.width = days * max(1, 40 // days)  # every day as wide as the others
        total = f"{sum(turns):,.0f} turns" if days > 1 else "today"
        self.query_one("#turns-title", Label).update(f"Turns per day ({total})")
        self.query_one("#cost-title", Label).update(f"Cost per day ({formatting.cost(sum(cost))})")
        # Names are text, not markup: a tool's is whatever the model called it.
        for name, title, rows in (
            ("by-agent", "Runs by agent", dashdata.agent_bars(snap.main)),
            ("by-model", "Tokens by model", dashdata.model_bars(snap.models)),
            ("by-tool", "Calls by tool", dashdata.tool_bars(snap.main)),
        ):
            self.query_one(f"#{name}", Static).update(Text.assemble((title, "bold"), "\n", rows))
        users = self.query_one("#users", DataTable)
        shown = snap.users is not None
        users.display = shown
        self.query_one("#users-title").display = shown
        if snap.users is not None:
            users.clear()
            for g in snap.users:
                users.add_row(*map(Text, dashdata.user_cells(g)), key=g.key or "(none)")

    def _draw_live(self) -> None:
        report = self.live
        if report is None or not self.is_mounted:
            return
        table = self.query_one("#live", DataTable)
        with_user = report.all_users
        columns = list(LIVE_COLUMNS)
        if with_user:
            columns.insert(1, "User")
        if [str(c.label) for c in table.columns.values()] != columns:
            table.clear(columns=True)
            table.add_columns(*columns)
        extra = (time.monotonic() - self._live_at) * 1000
        # Cells as Text: a str cell is markup, and a tool's name is the model's to choose.
        rows = {
            run.run_id: [Text(c) for c in dashdata.live_cells(run, extra, with_user)]
            for run in report.runs
        }
        if [key.value for key in table.rows] == list(rows):
            # The same runs: update the cells in place (the cursor stays where it is).
            for key, cells in rows.items():
                for column, value in zip(table.columns, cells, strict=True):
                    table.update_cell(key, column, value)
        else:
            table.clear()
            for key, cells in rows.items():
                table.add_row(*cells, key=key)
        if not report.runs and not self._no_live:
            self._note("No run in flight.")

    def _note(self, text: str) -> None:
        if self.is_mounted:
            self.query_one("#live-note", Label).update(Text(text))  # an error's text, not markup

    # -- actions ----------------------------------------------------------------------------

    def action_period(self, index: int) -> None:
        if index == self.period:
            return
        self.period = index
        self._show_period()
        self._tick_stats()

    def action_next_period(self) -> None:
        self.action_period((self.period + 1) % len(PERIODS))

    def action_refresh_now(self) -> None:
        self._tick_live()
        self._tick_stats()

    def action_close(self) -> None:
        self.dismiss(None)


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, MuxiError) else f"{type(exc).__name__}: {exc}"
