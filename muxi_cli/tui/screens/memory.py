"""The memory screen: what muxi remembers about the current user."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType

from muxi_cli.tui import formatting
from muxi_cli.tui.screens.dialogs import ConfirmDialog, InputDialog
from muxi_cli.tui.screens.lists import ListScreen

if TYPE_CHECKING:
    from muxi_cli.protocol.records import MemoryItem
    from muxi_cli.runtime.base import Runtime


class MemoryScreen(ListScreen):
    TITLE_TEXT = "Memory"
    SEARCH_PLACEHOLDER = "Search memories (Enter)…"
    HINT = "a add · d forget · s stats · m map · / search · Esc close"
    COLUMNS = ("Kind", "Memory", "Created", "Score")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add"),
        Binding("d,delete", "forget", "Forget"),
        Binding("s", "viz('stats')", "Stats"),
        Binding("m", "viz('map')", "Map"),
    ]

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.items: dict[str, MemoryItem] = {}

    async def reload(self) -> None:
        query = self.query_text
        try:
            if query:
                found = await self.runtime.memory_search(query, limit=50)
            else:
                found = await self.runtime.memory_list(limit=200)
        except Exception as exc:
            self.report(exc)
            return
        self.items = {m.id: m for m in found}
        table = self.table
        table.clear()
        for m in found:
            score = f"{m.score:.2f}" if m.score is not None else ""
            table.add_row(
                m.kind,
                formatting.stored_text(formatting.clip(m.text, 70)),
                formatting.short_date(m.created_at),
                score,
                key=m.id,
            )
        if found:
            self.set_empty("")
        elif query:
            self.set_empty("No memory matches.")
        else:
            self.set_empty(
                "No memories yet. Press a to add one, or just chat: muxi remembers facts you tell it."
            )

    def action_viz(self, view: str) -> None:
        from muxi_cli.tui.screens.memory_viz import MemoryVizScreen  # deferred: on demand

        self.app.push_screen(MemoryVizScreen(self.runtime, "map" if view == "map" else "stats"))

    def action_add(self) -> None:
        async def done(text: str | None) -> None:
            if not text:
                return
            try:
                await self.runtime.memory_add(text)
            except Exception as exc:
                self.report(exc)
                return
            self.notify("Remembered.")
            await self.reload()

        self.app.push_screen(
            InputDialog(
                "Remember a fact",
                placeholder="e.g. I prefer metric units",
                hint="Saved for the current user.",
            ),
            done,
        )

    def action_forget(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        item = self.items.get(key)
        text = formatting.clip(item.text, 60) if item else key

        async def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                await self.runtime.memory_forget(key)
            except Exception as exc:
                self.report(exc)
                return
            self.notify("Forgotten.")
            await self.reload()

        self.app.push_screen(ConfirmDialog(f"Forget “{text}”?", "Forget"), done)
