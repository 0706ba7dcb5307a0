"""``/mcp``: the MCP servers table, with why a failed one failed and a retry key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from muxi_cli.tui import formatting
from muxi_cli.tui.screens.info import TableScreen

if TYPE_CHECKING:
    from muxi_cli.protocol.records import ServerInfo

COLUMNS = ("Server", "Transport", "State", "Tools", "Start time", "Error")
EMPTY = "No MCP servers are configured: add them under `mcp_servers:` in muxi.yaml."


def first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def state_text(server: ServerInfo) -> str:
    """``ready``, or with a remote server's OAuth state: ``failed · login required``."""
    auth = (server.auth or "").removeprefix("oauth: ")
    return f"{server.state} · {auth}" if auth else server.state


def detail_text(server: ServerInfo) -> str:
    """Everything the runtime said about a server's failure (command line, stderr tail)."""
    if not server.error:
        return f"{server.name}: {server.state}."
    return f"{server.name} ({server.state}): {server.error.strip()}"


class McpServersScreen(TableScreen):
    """The servers; the highlighted failed server's whole error below the table."""

    DEFAULT_CSS = """
    McpServersScreen #detail-box { height: auto; max-height: 14; margin-top: 1; }
    McpServersScreen #detail { color: $text-warning; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "retry", "Retry")]

    def __init__(self, servers: Sequence[ServerInfo], retry: Callable[[str], None]) -> None:
        rows = [
            (
                s.name,
                s.transport,
                state_text(s),
                s.tool_count,
                formatting.duration(s.started_ms) if s.started_ms is not None else "",
                formatting.clip(first_line(s.error), 50),
            )
            for s in servers
        ]
        super().__init__("MCP servers", COLUMNS, rows, empty=EMPTY)
        self.servers = list(servers)
        self._retry = retry

    def _below_table(self) -> ComposeResult:
        with VerticalScroll(id="detail-box"):
            yield Static("", id="detail")

    def _hint(self) -> str:
        if not self._rows:
            return super()._hint()
        return "r retry (restart) the highlighted server · Esc to close"

    def _cells(self, row: Sequence[object]) -> list[object]:
        return [Text(str(c)) for c in row]  # an error's "[Errno 2]" is not markup

    def _filled(self) -> None:
        failed = next((i for i, s in enumerate(self.servers) if s.error), None)
        if failed is not None:  # start on the first failure: that is why /mcp was opened
            self.query_one(DataTable).move_cursor(row=failed)
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    @property
    def highlighted(self) -> ServerInfo | None:
        row = self.query_one(DataTable).cursor_row
        return self.servers[row] if 0 <= row < len(self.servers) else None

    def _show_detail(self) -> None:
        server = self.highlighted
        detail = self.query_one("#detail", Static)
        box = self.query_one("#detail-box")
        box.display = server is not None and bool(server.error)
        detail.update(Text(detail_text(server) if server is not None and server.error else ""))

    def action_retry(self) -> None:
        server = self.highlighted
        if server is None:
            return
        self.dismiss(None)
        self._retry(server.name)
