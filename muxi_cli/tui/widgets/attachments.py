"""The attachment chips above the input: files that go with the next message.

A chip shows the file's name, type and size; its ``×`` (or Backspace in an
empty input, for the last chip) takes it off. A file the last send could not
take keeps its chip, with the reason under it.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.containers import Horizontal, Vertical
from textual.events import Click
from textual.message import Message
from textual.widgets import Static

from muxi_cli.tui.files import Pending

HINT = "× or Backspace in an empty input removes a file · Enter sends them with the message"


class RemoveButton(Static):
    DEFAULT_CSS = """
    RemoveButton { width: 3; color: $text-muted; text-style: bold; }
    RemoveButton:hover { color: $error; }
    """

    def __init__(self, chip: AttachmentChip) -> None:
        super().__init__(" ×", classes="remove")
        self.chip = chip
        self.tooltip = f"Remove {chip.item.name}"

    def on_click(self, event: Click) -> None:
        event.stop()
        self.post_message(AttachmentChip.Remove(self.chip.item))


class AttachmentChip(Vertical):
    DEFAULT_CSS = """
    AttachmentChip { height: auto; width: 1fr; }
    AttachmentChip > Horizontal { height: 1; width: 1fr; }
    AttachmentChip .label { width: auto; color: $text; }
    AttachmentChip .error { color: $error; padding: 0 0 0 3; }
    AttachmentChip.-error .label { color: $error; }
    """

    class Remove(Message):
        def __init__(self, item: Pending) -> None:
            super().__init__()
            self.item = item

    def __init__(self, item: Pending) -> None:
        super().__init__(id=f"chip-{item.key}")
        self.item = item
        self._error = Static("", classes="error")

    def compose(self):
        with Horizontal():
            yield Static(Text(self.item.label()), classes="label")
            yield RemoveButton(self)
        yield self._error

    def on_mount(self) -> None:
        self.show_error()

    def show_error(self) -> None:
        error = self.item.error
        self.set_class(error is not None, "-error")
        self._error.display = error is not None
        self._error.update(Text(f"✗ {error}" if error else ""))


class AttachmentBar(Vertical):
    """Hidden while empty."""

    DEFAULT_CSS = """
    AttachmentBar {
        height: auto; max-height: 10; overflow-y: auto; margin: 0 1; padding: 0 1;
        border: round $accent 50%; display: none;
    }
    AttachmentBar.-shown { display: block; }
    AttachmentBar > .hint { color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.items: list[Pending] = []
        self._next_key = 0
        self.border_title = "attachments"

    def compose(self):
        yield Static(HINT, classes="hint")

    def next_key(self) -> int:
        self._next_key += 1
        return self._next_key

    async def add_item(self, item: Pending) -> None:
        if any(i.path == item.path for i in self.items):
            return  # the same file twice would be sent twice
        self.items.append(item)
        await self.mount(AttachmentChip(item), before=self.query_one(".hint"))
        self._update()

    async def discard(self, item: Pending) -> None:
        self.items = [i for i in self.items if i is not item]
        for chip in self.query(AttachmentChip):
            if chip.item is item:
                await chip.remove()
        self._update()

    async def pop_last(self) -> Pending | None:
        if not self.items:
            return None
        item = self.items[-1]
        await self.discard(item)
        return item

    async def discard_all(self) -> None:
        self.items = []
        await self.query(AttachmentChip).remove()
        self._update()

    def refresh_errors(self) -> None:
        for chip in self.query(AttachmentChip):
            chip.show_error()

    def _update(self) -> None:
        self.set_class(bool(self.items), "-shown")
        count = len(self.items)
        self.border_title = f"{count} attachment" + ("" if count == 1 else "s")
        self.screen.refresh_bindings()  # the footer's "Remove last file" comes and goes
