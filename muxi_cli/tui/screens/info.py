"""A read-only table in a modal (tools, MCP servers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label


class TableScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    TableScreen { align: center middle; }
    TableScreen > Vertical {
        width: 100; max-width: 95%; height: auto; max-height: 85%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    TableScreen DataTable { height: auto; max-height: 30; }
    TableScreen .hint { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Close")]

    def __init__(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[object]],
        note: str = "",
        empty: str = "Nothing to show.",
    ) -> None:
        super().__init__()
        self._empty = empty
        self._title = title
        self._columns = list(columns)
        self._rows = [list(r) for r in rows]
        self._note = note

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self._title
            table: DataTable[object] = DataTable(cursor_type="row", zebra_stripes=True)
            yield table
            if not self._rows:
                yield Label(self._empty, classes="hint", id="empty")
            yield from self._below_table()
            if self._note:
                yield Label(self._note, classes="hint")
            yield Label(self._hint(), classes="hint")

    def _below_table(self) -> ComposeResult:
        """Widgets a subclass shows between the table and the hints (none here)."""
        yield from ()

    def _hint(self) -> str:
        return "Esc to close"

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*self._columns)
        for row in self._rows:
            table.add_row(*self._cells(row))
        table.focus()
        self._filled()

    def _cells(self, row: Sequence[object]) -> list[object]:
        return [str(c) for c in row]

    def _filled(self) -> None:
        """Called once the rows are in (subclasses: a handler of their own would run too)."""

    def action_close(self) -> None:
        self.dismiss(None)
