"""The chat app's form for an MCP server's question (an ``elicitation.requested`` event).

One input per requested field, built like the inspector's (``mcpdev/forms.py``
fields, the inspector's widgets). Send accepts, Decline declines, Esc cancels;
a URL request shows the address to open and asks whether to go on.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, TextArea

from muxi_cli.mcpdev.forms import build_arguments, is_empty, tool_fields
from muxi_cli.protocol.events import ElicitationRequested
from muxi_cli.termtext import strip_controls
from muxi_cli.tui.mcp_inspect.screen import field_widget
from muxi_cli.tui.screens.dialogs import DIALOG_CSS

Answer = tuple[str, dict[str, Any] | None]


def _plain(text: str) -> str:
    # Server text is shown as it is, never as markup.
    return strip_controls(text).replace("[", "\\[")


class ElicitationDialog(ModalScreen[Answer]):
    DEFAULT_CSS = (
        "ElicitationDialog { align: center middle; }\n"
        + DIALOG_CSS
        + "ElicitationDialog .fields { height: auto; max-height: 20; }\n"
        + "ElicitationDialog .error { color: $error; }\n"
    )
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, event: ElicitationRequested) -> None:
        super().__init__()
        self.event = event
        self.fields = tool_fields(event.requested_schema) if event.mode == "form" else []

    def compose(self) -> ComposeResult:
        event = self.event
        with Vertical(classes="dialog"):
            yield Label(f"{_plain(event.server or 'An MCP server')} asks", classes="title")
            yield Label(_plain(event.message))
            if event.mode == "url":
                yield Label(f"Open: {_plain(event.url or '')}", classes="hint")
            else:
                with VerticalScroll(classes="fields"):
                    for index, spec in enumerate(self.fields):
                        yield Label(_plain(spec.label), classes="hint")
                        if spec.description:
                            yield Label(_plain(spec.description), classes="hint")
                        yield field_widget(spec, f"elicit-{index}")
            yield Label("", id="elicit-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Decline", id="decline")
                yield Button(
                    "Open" if event.mode == "url" else "Send", id="accept", variant="primary"
                )

    def on_mount(self) -> None:
        inputs = self.query(Input)
        (inputs.first() if inputs else self.query_one("#accept", Button)).focus()

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for index, spec in enumerate(self.fields):
            widget = self.query_one(f"#elicit-{index}")
            if isinstance(widget, Input):
                out[spec.name] = widget.value
            elif isinstance(widget, Select):
                out[spec.name] = None if widget.value is Select.NULL else widget.value
            elif isinstance(widget, TextArea):
                out[spec.name] = widget.text
        return out

    def answer(self) -> Answer | str:
        """The answer to send, or what is wrong with the form."""
        if self.event.mode == "url":
            return "accept", None
        values = self.values()
        missing = [s.name for s in self.fields if s.required and is_empty(s, values.get(s.name))]
        if missing:
            return f"fill in: {', '.join(missing)}"
        try:
            return "accept", build_arguments(self.fields, values)
        except ValueError as exc:
            return str(exc)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "accept":
            self._send()
        else:
            self.dismiss(("decline", None))

    def _send(self) -> None:
        answer = self.answer()
        if isinstance(answer, str):
            self.query_one("#elicit-error", Label).update(_plain(answer))
            return
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(("cancel", None))
