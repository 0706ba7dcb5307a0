"""The multi-line message input.

Enter sends; Shift+Enter or Ctrl+J inserts a new line (Ctrl+J works in every
terminal, Shift+Enter only where the terminal reports it). A paste arrives as
one Paste event and is inserted, never sent; a paste that names existing
files (a file dropped on the terminal) becomes attachments instead. Backspace
in an empty input takes off the last attachment. Up on the first line and Down
on the last line walk earlier prompts. Tab/Enter accept a completion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

from muxi_cli.tui import files
from muxi_cli.tui.completer import Candidate
from muxi_cli.tui.history import PromptHistory
from muxi_cli.tui.widgets.completion import CompletionMenu

Completer = Callable[[str, int, int], list[Candidate]]

NEWLINE_KEYS = ("shift+enter", "ctrl+j", "alt+enter")


class PromptInput(TextArea):
    """TextArea that sends on Enter."""

    DEFAULT_CSS = """
    PromptInput {
        height: auto;
        min-height: 3;
        max-height: 12;
        margin: 0 1;
        border: round $primary 50%;
        padding: 0 1;
        background: $surface;
    }
    PromptInput:focus { border: round $primary; }
    PromptInput.-busy { border: round $warning 60%; }
    PromptInput .text-area--cursor-line { background: transparent; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # Backspace in an empty input takes off the last attached file (and the
        # footer says so while that is what it does); otherwise it deletes.
        Binding("backspace", "remove_last_attachment", "Remove last file"),
        Binding("backspace", "delete_left", "Delete character left", show=False),
    ]

    @dataclass
    class Submitted(Message):
        input: PromptInput
        text: str

        @property
        def control(self) -> PromptInput:
            return self.input

    class CancelRequested(Message):
        """Esc with nothing else to close: cancel the running reply."""

    class FocusTranscript(Message):
        """Ctrl+Up: move focus to the messages (copy mode)."""

    class FilesDropped(Message):
        """A paste that names existing files: attach them."""

        def __init__(self, paths: list[Path]) -> None:
            super().__init__()
            self.paths = paths

    class RemoveLastAttachment(Message):
        """Backspace in an empty input."""

    class ScrollTranscript(Message):
        def __init__(self, pages: int) -> None:
            super().__init__()
            self.pages = pages

    def __init__(
        self,
        *,
        history: PromptHistory | None = None,
        completer: Completer | None = None,
        menu: CompletionMenu | None = None,
        placeholder: str = "",
        attachments_waiting: Callable[[], bool] = lambda: False,
        id: str | None = None,
    ) -> None:
        super().__init__(
            "",
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            placeholder=placeholder,
            id=id,
        )
        self.prompt_history = history or PromptHistory()
        self.completer = completer
        self.menu = menu
        self.attachments_waiting = attachments_waiting
        self._quiet = False
        self._was_empty = True
        #: The text and cursor the completion menu was computed for.
        self._menu_for: tuple[str, tuple[int, int]] | None = None

    # -- keys ------------------------------------------------------------------------

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        handled = True
        if key in ("enter", "tab") and self._menu_is_stale():
            # Keys typed faster than the app draws arrive before the text's
            # change events: the menu still offers what matched an earlier
            # prefix, and accepting it would replace what was typed since.
            self.refresh_completion()
        menu = self.menu if self.menu is not None and self.menu.shown else None
        if key == "enter":
            if menu is not None and (candidate := menu.selected()) is not None:
                self._accept(candidate, submit_ok=True)
            else:
                self._submit()
        elif key in NEWLINE_KEYS:
            self._close_menu()
            self.insert("\n")
        elif key == "tab" and menu is not None:
            if (candidate := menu.selected()) is not None:
                self._accept(candidate, submit_ok=False)
        elif key == "escape":
            if menu is not None:
                self._close_menu()
            else:
                self.post_message(self.CancelRequested())
        elif key == "up" and menu is not None:
            menu.move(-1)
        elif key == "down" and menu is not None:
            menu.move(1)
        elif key == "up" and self.cursor_location[0] == 0:
            self._recall(self.prompt_history.previous(self.text), at_start=True)
        elif key == "down" and self.cursor_location[0] == self.document.line_count - 1:
            self._recall(self.prompt_history.next(), at_start=False)
        elif key in ("ctrl+up", "alt+up"):
            self.post_message(self.FocusTranscript())
        elif key in ("pageup", "pagedown"):
            self.post_message(self.ScrollTranscript(-1 if key == "pageup" else 1))
        else:
            handled = False
        if handled:
            event.stop()
            event.prevent_default()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "remove_last_attachment":
            return not self.text and self.attachments_waiting()
        return super().check_action(action, parameters)

    def action_remove_last_attachment(self) -> None:
        self.post_message(self.RemoveLastAttachment())

    def _emptiness_changed(self) -> None:
        """The footer's Backspace entry depends on an empty input: refresh it when that flips."""
        empty = not self.text
        if empty != self._was_empty:
            self._was_empty = empty
            self.refresh_bindings()

    async def _on_paste(self, event: events.Paste) -> None:
        dropped = None if self.read_only else files.dropped_paths(event.text)
        if dropped:
            event.stop()
            event.prevent_default()
            self.post_message(self.FilesDropped(dropped))
        # Otherwise TextArea's own paste handler (next in the class chain) inserts the text.

    def _submit(self) -> None:
        text = self.text
        if not text.strip() and not self.attachments_waiting():
            return  # files alone may be sent (a screenshot dropped, then Enter)
        self.post_message(self.Submitted(self, text))

    def _recall(self, text: str | None, *, at_start: bool) -> None:
        if text is None:
            return
        self._quiet = True
        self.load_text(text)
        if at_start:
            first = text.split("\n", 1)[0]
            self.move_cursor((0, len(first)))
        else:
            self.move_cursor(self.document.end)
        self._close_menu()

    # -- completion --------------------------------------------------------------------

    def _accept(self, candidate: Candidate, *, submit_ok: bool) -> None:
        row, col = self.cursor_location
        self.replace(candidate.value, (candidate.row, candidate.start), (row, col))
        self._close_menu()
        if submit_ok and candidate.submit:
            self._submit()

    def _close_menu(self) -> None:
        if self.menu is not None:
            self.menu.hide()

    def _menu_is_stale(self) -> bool:
        return self._menu_for is not None and self._menu_for != (self.text, self.cursor_location)

    def refresh_completion(self) -> None:
        if self.menu is None or self.completer is None:
            return
        row, col = self.cursor_location
        self._menu_for = (self.text, (row, col))
        candidates = self.completer(self.text, row, col) if self.has_focus else []
        typed = self.document.get_line(row)[:col].strip()
        if len(candidates) == 1 and candidates[0].value.strip() == typed.rpartition(" ")[2]:
            candidates = []  # typed out in full: nothing left to offer
        self.menu.show(candidates)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area is not self:
            return
        self._emptiness_changed()
        if self._quiet:
            self._quiet = False
            return
        self.refresh_completion()

    def on_blur(self) -> None:
        self._close_menu()

    def set_text(self, text: str) -> None:
        """Replace the content and put the cursor at the end."""
        self._quiet = True
        self.load_text(text)
        self.move_cursor(self.document.end)
        self._close_menu()

    def clear_input(self) -> None:
        self.prompt_history.reset()
        self._quiet = True
        self.load_text("")
        self._close_menu()
