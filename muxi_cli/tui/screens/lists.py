"""Shared frame of the searchable list screens (sessions, memory)."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label

from muxi_cli.errors import MuxiError


class ListScreen(ModalScreen[object]):
    """A search box over a table; subclasses fill the table in ``reload``."""

    DEFAULT_CSS = """
    ListScreen { align: center middle; }
    ListScreen > Vertical {
        width: 110; max-width: 96%; height: 85%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ListScreen Input { margin: 0 0 1 0; }
    ListScreen DataTable { height: 1fr; }
    ListScreen .hint { color: $text-muted; height: auto; }
    ListScreen .empty { color: $text-muted; padding: 1 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("slash", "search", "Search", show=False),
    ]

    TITLE_TEXT = "List"
    SEARCH_PLACEHOLDER = "Search…"
    HINT = ""
    COLUMNS: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.TITLE_TEXT
            yield Input(placeholder=self.SEARCH_PLACEHOLDER, id="search")
            table: DataTable[object] = DataTable(cursor_type="row", zebra_stripes=True, id="rows")
            yield table
            yield Label("", classes="empty", id="empty")
            yield Label(self.HINT, classes="hint")

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#rows", DataTable)

    @property
    def query_text(self) -> str:
        return self.query_one("#search", Input).value.strip()

    def on_mount(self) -> None:
        self.table.add_columns(*self.COLUMNS)
        apply = getattr(self.app, "apply_blink", None)
        if apply is not None:
            apply(self)
        self.table.focus()
        self.run_worker(self.reload(), group="reload", exclusive=True)

    async def reload(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def set_empty(self, message: str) -> None:
        label = self.query_one("#empty", Label)
        label.update(message)
        label.display = bool(message)

    def selected_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def report(self, exc: Exception) -> None:
        if isinstance(exc, MuxiError):
            self.notify(
                exc.message + (f"\n{exc.hint}" if exc.hint else ""), severity="error", title="Error"
            )
        else:
            self.notify(f"{type(exc).__name__}: {exc}", severity="error", title="Error")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(
            0.25, lambda: self.run_worker(self.reload(), group="reload", exclusive=True)
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.run_worker(self.reload(), group="reload", exclusive=True)
        self.table.focus()

    def on_key(self, event: events.Key) -> None:
        if event.key == "down" and self.focused is self.query_one("#search", Input):
            event.stop()
            self.table.focus()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_close(self) -> None:
        self.dismiss(None)
