"""An agent's reply: routing, recalled memories, streamed Markdown, tool calls, delegates.

A reply renders from its :class:`ReplyRecord`; a live reply also updates that
record as events arrive. Text deltas are buffered and written to a
``MarkdownStream`` at most ``FLUSH_SECONDS`` apart, so a fast model costs a
few dozen Markdown updates a second, not one per token.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.text import Text
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from muxi_cli.tui import formatting
from muxi_cli.tui.model import (
    ErrorRecord,
    MediaNote,
    ReplyRecord,
    ReplyState,
    TextPart,
    ToolCall,
)
from muxi_cli.tui.widgets.approval import ApprovalPrompt
from muxi_cli.tui.widgets.memories import RecalledMemories
from muxi_cli.tui.widgets.messages import ErrorBox, MessageView
from muxi_cli.tui.widgets.tool_call import ToolCallEntry

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1 / 30


class ReplyMarkdown(Markdown):
    DEFAULT_CSS = """
    ReplyMarkdown { margin: 0; padding: 0; background: transparent; }
    ReplyMarkdown > MarkdownParagraph:last-child { margin-bottom: 0; }
    """


class NoteLine(Static):
    """An attachment processed or failed, or what was heard (:class:`MediaNote`)."""

    DEFAULT_CSS = """
    NoteLine { color: $text-muted; }
    NoteLine.-failed { color: $warning; }
    NoteLine.-transcript { text-style: italic; }
    """

    def __init__(self, note: MediaNote) -> None:
        super().__init__(Text(note.text), classes=f"-{note.kind}")
        self.note = note

    def refresh_note(self) -> None:
        self.update(Text(self.note.text))


class ReplyView(MessageView):
    """One reply (or, nested with ``depth`` > 0, a delegated agent's reply)."""

    DEFAULT_CSS = """
    ReplyView { padding: 0 1; }
    ReplyView > .header { color: $primary; }
    ReplyView > .footer { color: $text-muted; }
    ReplyView > .footer.-waiting { color: $text-muted; text-style: italic; }
    ReplyView.-nested {
        margin: 0 0 0 2;
        padding: 0 0 0 1;
        border-left: vkey $secondary 60%;
    }
    ReplyView.-nested > .header { color: $secondary; }
    """

    def __init__(self, record: ReplyRecord, *, live: bool = False, **kwargs: Any) -> None:
        super().__init__(record, **kwargs)
        self.reply = record
        self.live = live
        if record.depth:
            self.add_class("-nested")
            self.can_focus = False
        self._header = Static(self._header_text(), classes="header")
        self._footer = Static(self._footer_text(), classes="footer")
        self._segment: ReplyMarkdown | None = None
        self._stream: MarkdownStream | None = None
        self._pending: list[str] = []
        self._flush_timer: Timer | None = None
        self._tools: dict[str, ToolCallEntry] = {}
        self._heard: NoteLine | None = None

    # -- static rendering -----------------------------------------------------------

    def compose(self):
        yield self._header
        if self.reply.memories:
            yield RecalledMemories(self.reply.memories)
        for part in self.reply.parts:
            yield self._part_widget(part)
            if isinstance(part, ToolCall) and part.media:
                yield self._media_widget(part)
        yield self._footer
        if self.reply.error is not None:
            yield ErrorBox(self.reply.error)

    def _part_widget(self, part: TextPart | ToolCall | MediaNote | ReplyRecord) -> Widget:
        if isinstance(part, TextPart):
            return ReplyMarkdown(part.text)
        if isinstance(part, MediaNote):
            return NoteLine(part)
        if isinstance(part, ToolCall):
            entry = ToolCallEntry(part)
            self._tools[part.call_id] = entry
            return entry
        return ReplyView(part, live=False)

    def _header_text(self) -> Text:
        reply = self.reply
        text = Text()
        text.append("↳ " if reply.depth else "◆ ")
        text.append(reply.agent or "assistant", style="bold")
        if reply.route_reason:
            method = f" ({reply.route_method})" if reply.route_method else ""
            text.append(" · ", style="dim")
            if reply.route_failure:  # the router's answer was unusable: the reason says why
                text.append("⚠ routing failed: ", style="bold yellow")
            text.append(f"{reply.route_reason}{method}", style="italic")
        return text

    def _footer_text(self) -> Text:
        reply = self.reply
        if reply.state == "waiting":
            return Text("thinking…")
        if reply.state == "streaming":
            return Text("")
        bits: list[str] = []
        if reply.state == "cancelled":
            bits.append("cancelled · the partial reply is kept")
        elif reply.state == "failed":
            bits.append("failed")
        if reply.duration_ms is not None:
            bits.append(formatting.duration(reply.duration_ms))
        usage = reply.usage
        if usage.unknown and not usage.total:
            bits.append("usage unknown")
        elif usage.total:
            bits.append(
                f"{formatting.tokens(usage.input_tokens)} in / {formatting.tokens(usage.output_tokens)} out"
            )
            spent = formatting.usage_cost(usage)
            if spent is not None:
                bits.append(spent)
        return Text(" · ".join(bits))

    def _refresh_footer(self) -> None:
        self._footer.update(self._footer_text())
        self._footer.set_class(self.reply.state == "waiting", "-waiting")
        self._footer.display = bool(self._footer_text().plain)

    def on_mount(self) -> None:
        self._refresh_footer()

    def copy_text(self) -> str:
        return self.reply.text

    # -- live updates ---------------------------------------------------------------

    def routed(
        self,
        agent: str | None,
        reason: str | None,
        method: str | None,
        failure: str | None = None,
    ) -> None:
        if agent:
            self.reply.agent = agent
        if reason is not None:
            self.reply.route_failure = failure
        self.reply.route_reason = reason or self.reply.route_reason
        self.reply.route_method = method or self.reply.route_method
        self._header.update(self._header_text())

    async def recalled(self, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        self.reply.memories = list(items)
        await self.mount(RecalledMemories(self.reply.memories), after=self._header)

    async def append_text(self, text: str) -> None:
        if not text:
            return
        if self.reply.state == "waiting":
            self.reply.state = "streaming"
            self._refresh_footer()
        last = self.reply.parts[-1] if self.reply.parts else None
        if not isinstance(last, TextPart) or self._segment is None:
            if not isinstance(last, TextPart):
                last = TextPart()
                self.reply.parts.append(last)
            self._segment = ReplyMarkdown()
            await self.mount(self._segment, before=self._footer)
            self._stream = Markdown.get_stream(self._segment)
        last.text += text
        self._pending.append(text)
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_SECONDS, self._flush)

    async def _flush(self) -> None:
        self._flush_timer = None
        if not self._pending or self._stream is None:
            return
        chunk = "".join(self._pending)
        self._pending.clear()
        try:
            await self._stream.write(chunk)
        except RuntimeError:  # the stream was stopped meanwhile; the record has the text
            log.debug("dropped a write to a stopped Markdown stream")

    async def close_segment(self) -> None:
        """Write what is buffered and stop streaming into the current Markdown block."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        await self._flush()
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()
        self._segment = None

    async def add_tool(self, call: ToolCall) -> ToolCallEntry:
        await self.close_segment()
        if self.reply.state == "waiting":
            self.reply.state = "streaming"
            self._refresh_footer()
        self.reply.parts.append(call)
        entry = ToolCallEntry(call)
        self._tools[call.call_id] = entry
        await self.mount(entry, before=self._footer)
        return entry

    @staticmethod
    def _media_widget(call: ToolCall) -> Widget:
        from muxi_cli.tui.widgets.media import MediaList  # deferred: with the first image

        return MediaList(call.media, classes="tool-media")

    async def show_tool_media(self, call: ToolCall) -> None:
        """The images a tool returned, below its call."""
        entry = self._tools.get(call.call_id)
        if not call.media or entry is None:
            return
        await self.mount(self._media_widget(call), after=entry)

    async def add_note(self, note: MediaNote) -> NoteLine:
        await self.close_segment()
        self.reply.parts.append(note)
        line = NoteLine(note)
        await self.mount(line, before=self._footer)
        return line

    async def heard(self, text: str, final: bool) -> None:
        """``transcript.delta``: the spoken input's text grows in one line until final."""
        line = self._heard
        if line is None:
            line = self._heard = await self.add_note(MediaNote("🎤 ", "transcript"))
        line.note.text += text
        line.refresh_note()
        if final:
            self._heard = None

    def tool_entry(self, call_id: str) -> ToolCallEntry | None:
        return self._tools.get(call_id)

    async def ask_approval(self, call: ToolCall) -> ApprovalPrompt:
        entry = self._tools.get(call.call_id)
        prompt = ApprovalPrompt(call, id=None)
        if entry is not None:
            await self.mount(prompt, after=entry)
        else:
            await self.mount(prompt, before=self._footer)
        return prompt

    async def add_delegate(self, record: ReplyRecord) -> ReplyView:
        await self.close_segment()
        self.reply.parts.append(record)
        view = ReplyView(record, live=True)
        await self.mount(view, before=self._footer)
        return view

    async def finish(
        self, state: ReplyState, *, error: ErrorRecord | None = None, duration_ms: int | None = None
    ) -> None:
        await self.close_segment()
        for prompt in self.query(ApprovalPrompt):
            if prompt.call.status == "pending":  # never decided: the tool did not run
                prompt.call.status = "denied"
                prompt.call.decided_by = f"not run: the reply was {state}"
                entry = self._tools.get(prompt.call.call_id)
                if entry is not None:
                    entry.refresh_call()
            await prompt.remove()
        if state == "cancelled":
            self._stop_running_tools()
            for nested in list(self.query(ReplyView)):  # delegated agents stop with it
                if nested.live:
                    await nested.finish("cancelled")
        self.reply.state = state
        if duration_ms is not None:
            self.reply.duration_ms = duration_ms
        self.live = False
        if error is not None:
            self.reply.error = error
            await self.mount(ErrorBox(error))
        self._refresh_footer()

    def _stop_running_tools(self) -> None:
        """Calls still running when the reply is cancelled never give a result."""
        for part in self.reply.parts:
            if isinstance(part, ToolCall) and part.status in ("requested", "running"):
                part.status = "cancelled"
                entry = self._tools.get(part.call_id)
                if entry is not None:
                    entry.refresh_call()

    async def set_full_text(self, text: str) -> None:
        """A reply that arrived without deltas (non-streaming) gets its text at the end."""
        if text and not self.reply.text:
            await self.append_text(text)

    def usage_changed(self) -> None:
        if not self.live:
            self._refresh_footer()

    async def on_unmount(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                await stream.stop()
            except Exception:  # the widget is going away; nothing to render into
                log.debug("markdown stream stop failed on unmount", exc_info=True)
