"""A tool call shown inline in a reply: collapsed to one line, expandable."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Collapsible, Static

from muxi_cli.termtext import progress_text
from muxi_cli.tui import formatting
from muxi_cli.tui.model import ToolCall

_STATUS = {
    "requested": ("…", "running"),
    "running": ("…", "running"),
    "pending": ("?", "waiting for approval"),
    "ok": ("✓", ""),
    "error": ("✗", "failed"),
    "denied": ("⊘", "denied"),
    "cancelled": ("⊘", "cancelled"),
}


def title_for(call: ToolCall) -> str:
    mark, word = _STATUS.get(call.status, ("•", call.status))
    parts = [f"{mark} {call.name}({formatting.one_line(call.arguments, 48)})"]
    if call.progress is not None and call.status in ("running", "requested"):
        # Where a long call is, as its server reports it (tool.progress).
        word = progress_text(call.progress)
    if word:
        parts.append(word)
    if call.duration_ms is not None:
        parts.append(formatting.duration(call.duration_ms))
    return "  ".join(parts)


class ToolCallEntry(Collapsible):
    """Server, tool, arguments, result, duration and error of one call."""

    DEFAULT_CSS = """
    ToolCallEntry {
        margin: 0 0 0 0;
        padding: 0;
        border: none;
        background: transparent;
        height: auto;
    }
    ToolCallEntry > CollapsibleTitle { color: $text-muted; padding: 0; }
    ToolCallEntry.-error > CollapsibleTitle { color: $error; }
    ToolCallEntry.-denied > CollapsibleTitle { color: $warning; }
    ToolCallEntry.-cancelled > CollapsibleTitle { color: $warning; }
    ToolCallEntry.-pending > CollapsibleTitle { color: $warning; text-style: bold; }
    ToolCallEntry > Contents { padding: 0 0 0 3; height: auto; }
    ToolCallEntry .detail { color: $text-muted; }
    """

    def __init__(self, call: ToolCall) -> None:
        self.call = call
        self._detail = Static(self._detail_text(), classes="detail")
        super().__init__(self._detail, title=title_for(call), collapsed=True)
        self._apply_class()

    def _detail_text(self) -> Text:
        call = self.call
        text = Text()
        text.append("server    ", style="bold")
        text.append((call.server or "builtin") + "\n")
        text.append("tool      ", style="bold")
        text.append(call.tool + "\n")
        if call.decided_by:
            text.append("approval  ", style="bold")
            text.append(call.decided_by + "\n")
        if call.duration_ms is not None:
            text.append("duration  ", style="bold")
            text.append(formatting.duration(call.duration_ms) + "\n")
        text.append("arguments\n", style="bold")
        text.append(formatting.pretty_json(call.arguments, 2000) + "\n")
        if call.result is not None:
            label = "error" if call.status == "error" else "result"
            text.append(label + "\n", style="bold red" if call.status == "error" else "bold")
            text.append(formatting.clip(call.result, 4000))
        return text

    def _apply_class(self) -> None:
        for status in ("error", "denied", "pending", "cancelled"):
            self.set_class(self.call.status == status, f"-{status}")

    def refresh_call(self) -> None:
        """Show the call's current state (after an approval or a result)."""
        self.title = title_for(self.call)
        self._detail.update(self._detail_text())
        self._apply_class()
