"""The memories recalled for a turn, collapsed by default."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Collapsible, Static

from muxi_cli.tui import formatting


def _memory_lines(items: list[dict[str, Any]]) -> Text:
    text = Text()
    for i, item in enumerate(items):
        if i:
            text.append("\n")
        text.append("• ")
        kind = item.get("kind")
        if kind:
            text.append(f"[{kind}] ", style="dim")
        text.append(formatting.clip(str(item.get("text", "")), 300))
        score = item.get("score")
        if isinstance(score, (int, float)):
            text.append(f"  {score:.2f}", style="dim")
    return text


class RecalledMemories(Collapsible):
    DEFAULT_CSS = """
    RecalledMemories { border: none; padding: 0; background: transparent; height: auto; }
    RecalledMemories > CollapsibleTitle { color: $secondary; padding: 0; }
    RecalledMemories > Contents { padding: 0 0 0 3; height: auto; color: $text-muted; }
    """

    def __init__(self, items: list[dict[str, Any]]) -> None:
        count = len(items)
        title = f"recalled {count} memor{'y' if count == 1 else 'ies'}"
        super().__init__(Static(_memory_lines(items)), title=title, collapsed=True)
