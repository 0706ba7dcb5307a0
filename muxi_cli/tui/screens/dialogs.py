"""Small modal dialogs: ask for a line of text, confirm an action."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from muxi_cli.tui.formatting import stored_text

DIALOG_CSS = """
.dialog {
    width: 64;
    max-width: 90%;
    height: auto;
    border: round $accent;
    background: $surface;
    padding: 1 2;
}
.dialog > .title { text-style: bold; margin-bottom: 1; }
.dialog > .buttons { height: auto; margin-top: 1; align-horizontal: right; }
.dialog > .buttons > Button { margin-left: 1; }
.dialog > .hint { color: $text-muted; }
"""


class InputDialog(ModalScreen[str | None]):
    """Ask for one line of text; Enter accepts, Esc cancels."""

    DEFAULT_CSS = "InputDialog { align: center middle; }\n" + DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "", hint: str = "") -> None:
        super().__init__()
        self._title = title
        self._value = value
        self._placeholder = placeholder
        self._hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="title")
            yield Input(self._value, placeholder=self._placeholder, id="dialog-input")
            if self._hint:
                yield Label(self._hint, classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("OK", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        apply = getattr(self.app, "apply_blink", None)
        if apply is not None:
            apply(self)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._accept()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._accept()
        else:
            self.dismiss(None)

    def _accept(self) -> None:
        value = self.query_one(Input).value.strip()
        self.dismiss(value or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """Yes/no; ``y``/Enter confirms, ``n``/Esc cancels."""

    DEFAULT_CSS = "ConfirmDialog { align: center middle; }\n" + DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, confirm_label: str = "Delete") -> None:
        super().__init__()
        self._question = question
        self._confirm = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            # Text, not markup: the question quotes a session title or a memory.
            yield Label(stored_text(self._question), classes="title")
            yield Label("y / Enter to confirm · n / Esc to cancel", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="no")
                yield Button(self._confirm, id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
