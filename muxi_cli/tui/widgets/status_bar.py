"""The bottom status line: connection, agent, model, session usage, MCP servers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.widgets import Static

from muxi_cli.tui import formatting
from muxi_cli.tui.model import Usage


@dataclass
class Status:
    connection: str = "connecting…"
    connected: bool = False
    failed: bool = False
    agent: str | None = None
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    mcp_ready: int = 0
    mcp_failed: int = 0
    mcp_starting: int = 0
    session_title: str | None = None
    #: /speak: replies are read aloud.
    speaking: bool = False


class StatusBar(Static):
    """Renders a :class:`Status` owned by the app (so updates made early are never lost)."""

    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, status: Status, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.status = status

    def render(self) -> Text:
        s = self.status
        text = Text(no_wrap=True, overflow="ellipsis")
        dot_style = "green" if s.connected else ("red" if s.failed else "yellow")
        text.append("● ", style=dot_style)
        text.append(s.connection, style="bold")
        sep = ("  │  ", "dim")
        text.append(*sep)
        text.append("agent ", style="dim")
        text.append(s.agent or "auto")
        text.append(*sep)
        text.append("model ", style="dim")
        text.append(s.model or "—")
        text.append(*sep)
        usage = s.usage
        text.append(formatting.usage_tokens(usage))
        spent = formatting.usage_cost(usage)
        if spent is not None:
            text.append(f" · {spent}")
        if s.speaking:
            text.append(*sep)
            text.append("🔊 speak", style="bold")
        total = s.mcp_ready + s.mcp_failed + s.mcp_starting
        if total:
            text.append(*sep)
            text.append("MCP ", style="dim")
            text.append(f"{s.mcp_ready} ready", style="green" if s.mcp_ready else "")
            if s.mcp_starting:
                text.append(f", {s.mcp_starting} starting", style="yellow")
            if s.mcp_failed:
                text.append(f", {s.mcp_failed} failed", style="bold red")
        return text

    def change(self, **changes: object) -> None:
        for key, value in changes.items():
            setattr(self.status, key, value)
        self.refresh()
