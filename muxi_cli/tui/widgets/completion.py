"""The completion menu shown above the input for ``/commands`` and ``@agents``."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from muxi_cli.tui.completer import Candidate


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
        width = max(len(c.label) for c in candidates)
        options = []
        for candidate in candidates:
            text = Text(candidate.label.ljust(width + 2), style="bold")
            if candidate.help:
                text.append(candidate.help, style="dim")
            options.append(Option(text))
        self.add_options(options)
        self.highlighted = 0
        self.add_class("-shown")

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
