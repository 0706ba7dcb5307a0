"""The scrolling transcript, with a window of mounted entries.

Every record of the session is kept, but only the most recent ``WINDOW``
entries are mounted as widgets; scrolling to the top (or pressing the banner)
mounts ``PAGE`` older ones. A session of hundreds of messages therefore costs
about as much to lay out as one of forty, and the input stays responsive.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.events import Click
from textual.widgets import Static

from muxi_cli.tui.model import ErrorRecord, Record, ReplyRecord, UserRecord
from muxi_cli.tui.widgets.messages import ErrorMessage, MessageView, NoteMessage, UserMessage

WINDOW = 40
PAGE = 20


def make_view(record: Record, *, live: bool = False) -> MessageView:
    if isinstance(record, UserRecord):
        return UserMessage(record)
    if isinstance(record, ReplyRecord):
        from muxi_cli.tui.widgets.reply import ReplyView  # Markdown loads with the first reply

        return ReplyView(record, live=live)
    if isinstance(record, ErrorRecord):
        return ErrorMessage(record)
    return NoteMessage(record)


class EarlierBanner(Static):
    DEFAULT_CSS = """
    EarlierBanner { color: $text-muted; text-align: center; width: 1fr; margin: 0 1 1 1; display: none; }
    EarlierBanner:hover { color: $accent; }
    """

    def set_count(self, count: int) -> None:
        self.display = count > 0
        noun = "message" if count == 1 else "messages"
        self.update(Text(f"↑ {count} earlier {noun} · scroll up or click to show them"))

    async def on_click(self, event: Click) -> None:
        event.stop()
        transcript = self.parent
        if isinstance(transcript, Transcript):
            await transcript.load_earlier()


class Welcome(Static):
    DEFAULT_CSS = """
    Welcome { margin: 1 2; color: $text-muted; }
    """

    def __init__(self) -> None:
        text = Text()
        text.append("muxi", style="bold")
        text.append(" · chat with your agents\n\n")
        text.append("Type a message and press Enter.\n")
        text.append("/", style="bold")
        text.append(" commands   ")
        text.append("@name", style="bold")
        text.append(" ask one agent   ")
        text.append("Ctrl+O", style="bold")
        text.append(" sessions   ")
        text.append("Ctrl+P", style="bold")
        text.append(" palette   ")
        text.append("F1", style="bold")
        text.append(" help")
        super().__init__(text)


class Transcript(VerticalScroll, can_focus=False):
    DEFAULT_CSS = """
    Transcript { height: 1fr; padding: 1 0 0 0; scrollbar-gutter: stable; }
    """

    def __init__(self, *, window: int = WINDOW, page: int = PAGE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.window = window
        self.page = page
        self.records: list[Record] = []
        self._first = 0  # index in ``records`` of the first mounted entry
        self._banner = EarlierBanner()
        self._welcome = Welcome()
        self._loading = False

    def compose(self) -> ComposeResult:
        yield self._welcome
        yield self._banner

    def _update_welcome(self) -> None:
        self._welcome.display = not self.records

    def on_mount(self) -> None:
        self.anchor()

    @property
    def views(self) -> list[MessageView]:
        return list(self.query_children(MessageView))

    @property
    def hidden_count(self) -> int:
        return self._first

    async def add(self, record: Record, *, live: bool = False) -> MessageView:
        """Append a record and mount its entry; older entries leave the window."""
        self.records.append(record)
        self._update_welcome()
        view = make_view(record, live=live)
        await self.mount(view)
        await self._prune()
        return view

    async def _prune(self) -> None:
        views = self.views
        excess = len(views) - self.window
        if excess <= 0 or not self.is_anchored or self.scroll_y < self.max_scroll_y - 1:
            # Pruning while the user reads older entries would move the text under them.
            return
        doomed = [v for v in views[:excess] if not getattr(v, "live", False)]
        if not doomed:
            return
        self._first += len(doomed)
        await self.remove_children(doomed)
        self._banner.set_count(self._first)

    async def show(self, records: list[Record]) -> None:
        """Replace the transcript with ``records`` (a session being opened)."""
        await self.clear()
        self.records = list(records)
        self._first = max(0, len(self.records) - self.page)
        views = [make_view(r) for r in self.records[self._first :]]
        if views:
            await self.mount_all(views)
        self._banner.set_count(self._first)
        self._update_welcome()
        self.anchor()

    async def clear(self) -> None:
        await self.remove_children(list(self.views))
        self.records = []
        self._first = 0
        self._banner.set_count(0)
        self._update_welcome()

    async def load_earlier(self) -> int:
        """Mount up to ``page`` older entries above the first one; returns how many."""
        if self._first == 0 or self._loading:
            return 0
        self._loading = True
        try:
            start = max(0, self._first - self.page)
            views = [make_view(r) for r in self.records[start : self._first]]
            before_height = self.virtual_size.height
            first_view = self.views[0] if self.views else None
            if first_view is not None:
                await self.mount_all(views, before=first_view)
            else:
                await self.mount_all(views)
            self._first = start
            self._banner.set_count(self._first)
            self.release_anchor()

            def keep_position() -> None:
                grown = self.virtual_size.height - before_height
                self.scroll_to(y=self.scroll_y + max(0, grown), animate=False, immediate=True)

            self.call_after_refresh(keep_position)
            return len(views)
        finally:
            self._loading = False

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new <= 0 and old > 0 and self._first > 0 and not self._loading:
            self.run_worker(self.load_earlier(), group="earlier", exclusive=True)

    def step_from(self, view: MessageView, delta: int) -> MessageView | None:
        """The entry ``delta`` places from ``view`` (None past the last one)."""
        views = self.views
        try:
            index = views.index(view)
        except ValueError:
            return None
        target = index + delta
        if 0 <= target < len(views):
            return views[target]
        return None
