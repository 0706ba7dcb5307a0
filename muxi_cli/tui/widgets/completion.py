"""The completion menu shown above the input for ``/commands`` and ``@agents``."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from muxi_cli.tui.completer import Candidate

#: Rows shown before the menu scrolls (``max-height``), the side margins, and the
#: spaces between a label and its description.
MAX_ROWS = 10
SIDE_MARGIN = 1
GAP = 2
#: A label column wider than this is cut, so descriptions start near the left.
LABEL_CAP = 32


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def column_widths(labels: list[str], inner: int) -> tuple[int, int]:
    """``(label column, description column)`` for an ``inner``-column menu.

    Descriptions start right after the longest label, but never further than
    :data:`LABEL_CAP` (nor past a third of a narrow menu), and fit on one line.
    """
    longest = max((len(label) for label in labels), default=0)
    cap = max(12, min(LABEL_CAP, inner // 3))
    label_width = min(longest, cap)
    return label_width, max(0, inner - label_width - GAP)


class CompletionMenu(OptionList, can_focus=False):
    """A small list that never takes focus; the input drives it."""

    DEFAULT_CSS = """
    CompletionMenu {
        display: none;
        height: auto;
        max-height: 10;
        margin: 0 1;
        border: round $accent 60%;
        background: $surface;
        padding: 0;
    }
    CompletionMenu.-shown { display: block; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.candidates: list[Candidate] = []

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")

    def show(self, candidates: list[Candidate]) -> None:
        if not candidates:
            self.hide()
            return
        self.candidates = candidates
        self.clear_options()
        label_width, help_width = column_widths(
            [c.label for c in candidates], self._inner_width(len(candidates))
        )
        options = []
        for candidate in candidates:
            text = Text(clip(candidate.label, label_width).ljust(label_width + GAP), style="bold")
            if candidate.help and help_width > 0:
                text.append(clip(candidate.help, help_width), style="dim")
            options.append(Option(text))
        self.add_options(options)
        self.highlighted = 0
        self.add_class("-shown")

    def _inner_width(self, rows: int) -> int:
        """Columns inside the border (the menu may not be laid out yet: use the screen's)."""
        width = self.container_size.width or max(0, self.app.size.width - 2 * SIDE_MARGIN)
        width -= 2  # the border
        if rows > MAX_ROWS:  # a vertical scrollbar takes its share
            width -= self.styles.scrollbar_size_vertical
        return max(0, width)

    def hide(self) -> None:
        self.candidates = []
        self.remove_class("-shown")

    def move(self, delta: int) -> None:
        if not self.candidates:
            return
        current = self.highlighted or 0
        self.highlighted = (current + delta) % len(self.candidates)

    def selected(self) -> Candidate | None:
        if not self.shown or self.highlighted is None or not self.candidates:
            return None
        return self.candidates[self.highlighted]
