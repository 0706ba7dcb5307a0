"""The sessions screen: open, rename, delete, search; start a new one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from muxi_cli.tui import formatting
from muxi_cli.tui.screens.dialogs import ConfirmDialog, InputDialog
from muxi_cli.tui.screens.lists import ListScreen
from muxi_cli.tui.screens.timeline import TimelineScreen

if TYPE_CHECKING:
    from muxi_cli.protocol.records import SessionInfo
    from muxi_cli.runtime.base import Runtime


@dataclass
class SessionChoice:
    open: str | None = None
    new: bool = False
    deleted: set[str] = field(default_factory=set)
    renamed: dict[str, str] = field(default_factory=dict)


class SessionsScreen(ListScreen):
    TITLE_TEXT = "Sessions"
    SEARCH_PLACEHOLDER = "Search sessions by title or content…"
    HINT = "Enter open · t timeline · r rename · d delete · n new session · / search · Esc close"
    COLUMNS = ("", "Title", "Agent", "Updated", "Messages")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r,f2", "rename", "Rename"),
        Binding("d,delete", "delete", "Delete"),
        Binding("n", "new", "New session"),
        Binding("t", "timeline", "Timeline"),
    ]

    def __init__(self, runtime: Runtime, current: str | None) -> None:
        super().__init__()
        self.runtime = runtime
        self.current = current
        self.choice = SessionChoice()
        self.sessions: dict[str, SessionInfo] = {}

    async def reload(self) -> None:
        try:
            found = await self.runtime.sessions(query=self.query_text or None, limit=200)
        except Exception as exc:
            self.report(exc)
            return
        self.sessions = {s.id: s for s in found}
        table = self.table
        keep = self.selected_key()
        table.clear()
        for s in found:
            mark = Text("●", style="bold green") if s.id == self.current else Text("")
            table.add_row(
                mark,
                # A Text: a str cell is markup, and a title is the user's own words.
                formatting.stored_text(formatting.clip(s.title or "(untitled)", 60)),
                s.agent or "",
                formatting.short_date(s.updated_at),
                str(s.message_count),
                key=s.id,
            )
        if keep in self.sessions:
            table.move_cursor(row=table.get_row_index(keep))
        elif self.current in self.sessions:
            table.move_cursor(row=table.get_row_index(self.current))
        if found:
            self.set_empty("")
        else:
            self.set_empty(
                "No session matches."
                if self.query_text
                else "No sessions yet: send a message to start one."
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.choice.open = str(event.row_key.value)
            self.dismiss(self.choice)

    def action_new(self) -> None:
        self.choice.new = True
        self.dismiss(self.choice)

    def action_close(self) -> None:
        self.dismiss(self.choice)

    def action_timeline(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        info = self.sessions.get(key)
        self.app.push_screen(TimelineScreen(self.runtime, key, info.title if info else ""))

    def action_rename(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        info = self.sessions.get(key)

        async def done(title: str | None) -> None:
            if not title:
                return
            try:
                await self.runtime.rename_session(key, title)
            except Exception as exc:
                self.report(exc)
                return
            self.choice.renamed[key] = title
            await self.reload()

        self.app.push_screen(InputDialog("Rename session", info.title if info else ""), done)

    def action_delete(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        info = self.sessions.get(key)
        title = info.title if info else key

        async def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                await self.runtime.delete_session(key)
            except Exception as exc:
                self.report(exc)
                return
            self.choice.deleted.add(key)
            self.notify(f"Deleted “{title}”.", markup=False)
            await self.reload()

        self.app.push_screen(ConfirmDialog(f"Delete the session “{title}”?"), done)
