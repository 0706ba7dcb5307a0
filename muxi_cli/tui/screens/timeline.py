"""The timeline screen: a session's turns as rows (``/timeline``, or ``t`` in the sessions list).

One row per turn (when, agent, how it was routed, model, outcome, first-token
and total time, tokens, cost, tool calls), each delegate's run indented under
its turn; the highlighted row's details (the question, the routing reason,
every tool call with its outcome and approval) show below the table. The rows
come from ``Runtime.timeline`` (protocol/timeline.py), loaded in a worker; a
turn appears once it has ended (``r`` reloads).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from muxi_cli.errors import MuxiError
from muxi_cli.protocol.timeline import TimelineTurn, format_ms
from muxi_cli.tui import formatting

if TYPE_CHECKING:
    from muxi_cli.runtime.base import Runtime

COLUMNS: tuple[str, ...] = (
    *("#", "Time", "Agent", "Route", "Model", "Status"),
    *("First", "Total", "Tokens", "Cost", "Tools"),
)
_STATUS_STYLE = {"completed": "green", "failed": "red", "cancelled": "yellow"}


def clock(ts: str, fmt: str = "%H:%M:%S") -> str:
    """``HH:MM:SS`` in local time (the text itself when it is not a time)."""
    try:
        at = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ts
    return at.astimezone().strftime(fmt)


def route_cell(run: TimelineTurn) -> str:
    route = run.route
    if route is None:
        return ""
    text = route.method or "routed"
    if route.cached:
        text += " · cached"
    if route.fallback:
        text += " · fallback"
    return text


def tools_cell(run: TimelineTurn) -> str:
    """``3`` or ``3 (1 failed, 1 denied)``."""
    if not run.tools:
        return ""
    counts = {
        outcome: sum(1 for t in run.tools if t.outcome == outcome)
        for outcome in ("failed", "denied", "cancelled")
    }
    notes = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n)
    return f"{len(run.tools)}" + (f" ({notes})" if notes else "")


def row_cells(run: TimelineTurn, n: int | None, depth: int) -> list[Text]:
    agent = ("  " * depth + "↳ " if depth else "") + (run.agent or "-")
    return [
        Text(f"#{n}" if n is not None else ""),
        Text(clock(run.started_at) if depth == 0 else "", style="dim"),
        formatting.stored_text(agent, "bold"),
        formatting.stored_text(route_cell(run)),
        formatting.stored_text(run.model or "-"),
        Text(run.status, style=_STATUS_STYLE.get(run.status, "")),
        Text(format_ms(run.first_token_ms)),
        Text(format_ms(run.duration_ms)),
        Text(f"{formatting.tokens(run.input_tokens)}/{formatting.tokens(run.output_tokens)}"),
        Text(formatting.cost(run.cost_usd) if run.cost_usd is not None else "-"),
        Text(tools_cell(run)),
    ]


def details(run: TimelineTurn) -> Text:
    """Everything about one run, a fact per line."""
    out = Text()
    if run.message:
        out.append_text(formatting.stored_text(f"“{run.message}”\n", "italic"))
    out.append(f"{clock(run.started_at, '%Y-%m-%d %H:%M:%S')} · ", style="dim")
    out.append_text(formatting.stored_text(run.agent or "-", "bold"))
    out.append_text(formatting.stored_text(f" · {run.model or 'model unknown'} · "))
    out.append(run.status, style=_STATUS_STYLE.get(run.status, ""))
    if run.error_code and run.status != "completed":
        out.append_text(formatting.stored_text(f" ({run.error_code})", "red"))
    out.append("\n")
    if run.route is not None:
        out.append_text(formatting.stored_text(f"routed: {run.route.summary()}\n"))
    if run.recalls:
        top = f" (top score {run.recall_top:.2f})" if run.recall_top is not None else ""
        out.append(f"memories recalled: {run.recalls}{top}\n")
    out.append(
        f"tokens {run.input_tokens:,} in / {run.output_tokens:,} out, "
        f"{formatting.cost(run.cost_usd)}; first token {format_ms(run.first_token_ms)}, "
        f"total {format_ms(run.duration_ms)}\n",
        style="dim",
    )
    if run.delegations:
        out.append(
            f"with its delegates: {run.total_input_tokens:,} in / "
            f"{run.total_output_tokens:,} out, {formatting.cost(run.total_cost_usd)}\n",
            style="dim",
        )
    for tool, child in run.steps():
        if tool is not None:
            out.append_text(formatting.stored_text(f"→ {tool.summary()}\n"))
        if child is not None:
            out.append_text(formatting.stored_text(f"   ↳ {child.agent or '-'}: {child.status}"))
            out.append(
                f", {format_ms(child.duration_ms)}, {formatting.cost(child.cost_usd)}\n",
                style="dim",
            )
    return out


class TimelineScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    TimelineScreen { align: center middle; }
    TimelineScreen > Vertical {
        width: 140; max-width: 98%; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    TimelineScreen DataTable { height: 1fr; }
    TimelineScreen #details { height: auto; max-height: 12; border-top: solid $primary-darken-2; }
    TimelineScreen .hint { color: $text-muted; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close"),
        Binding("r", "reload", "Reload"),
    ]
    HINT = "Up/Down a turn (its details below) · r reload · Esc close"

    def __init__(self, runtime: Runtime, session_id: str, title: str = "") -> None:
        super().__init__()
        self.runtime = runtime
        self.session_id = session_id
        self.session_title = title
        #: Every row's run (turns and delegates), by run id.
        self.runs: dict[str, TimelineTurn] = {}
        self.turns: list[TimelineTurn] = []

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            # A Text, not a str: a str border title is markup, and a session title is
            # the user's own words ("[/b]" would crash the screen, "[@click=...]" act).
            box.border_title = formatting.stored_text(
                "Timeline · " + (self.session_title or "session")
            )
            table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True, id="rows")
            yield table
            with VerticalScroll(id="details"):
                yield Static("Loading…", id="detail")
            yield Label(self.HINT, classes="hint")

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#rows", DataTable)

    def on_mount(self) -> None:
        self.table.add_columns(*COLUMNS)
        self.table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self.run_worker(self.reload(), group="reload", exclusive=True)

    async def reload(self) -> None:
        try:
            turns = await self.runtime.timeline(self.session_id)
        except Exception as exc:
            message = exc.message if isinstance(exc, MuxiError) else f"{type(exc).__name__}: {exc}"
            self.query_one("#detail", Static).update(Text(f"Could not load: {message}"))
            return
        self.turns = turns
        self.runs = {}
        table = self.table
        table.clear()
        for n, turn in enumerate(turns, 1):
            self._add(turn, n, 0)
        if not turns:
            self.query_one("#detail", Static).update(
                "No recorded turns in this session yet: a turn shows here once it has ended."
            )
        else:
            latest = turns[-1].run_id  # the latest turn first: what was just asked
            table.move_cursor(row=table.get_row_index(latest))
            self._show(latest)

    def _add(self, run: TimelineTurn, n: int | None, depth: int) -> None:
        self.runs[run.run_id] = run
        self.table.add_row(*row_cells(run, n, depth), key=run.run_id)
        for child in run.delegations:
            self._add(child, None, depth + 1)

    def _show(self, run_id: str | None) -> None:
        run = self.runs.get(run_id or "")
        if run is not None:
            self.query_one("#detail", Static).update(details(run))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        value = event.row_key.value if event.row_key is not None else None
        self._show(str(value) if value is not None else None)

    def action_close(self) -> None:
        self.dismiss(None)
