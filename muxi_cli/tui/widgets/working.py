"""A one-line spinner shown while a reply runs (hidden otherwise)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class Working(Static):
    DEFAULT_CSS = """
    Working { height: 1; padding: 0 2; color: $text-muted; display: none; }
    Working.-on { display: block; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self._frame = 0
        self._label = ""
        self._timer: Timer | None = None

    def start(self, label: str) -> None:
        self._label = label
        self.add_class("-on")
        self._render_frame()
        if self._timer is None:
            self._timer = self.set_interval(0.1, self._tick)

    def set_label(self, label: str) -> None:
        self._label = label
        self._render_frame()

    def stop(self) -> None:
        self.remove_class("-on")
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _tick(self) -> None:
        self._frame = (self._frame + 1) % len(FRAMES)
        self._render_frame()

    def _render_frame(self) -> None:
        text = Text()
        text.append(FRAMES[self._frame] + " ", style="bold")
        text.append(self._label)
        text.append("  · Esc cancels the reply", style="dim")
        self.update(text)
