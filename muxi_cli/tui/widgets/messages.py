"""Transcript entries: the focusable base, user messages, notes and errors.

Every top-level entry can take focus (Ctrl+Up from the input, then Up/Down):
``c`` copies the entry, ``b`` copies its code blocks one after another, Esc
goes back to the input.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from muxi_cli.tui.model import ErrorRecord, NoteRecord, Record, UserRecord, code_blocks, record_text


class MessageView(Vertical, can_focus=True):
    """Base of the transcript entries."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy message"),
        Binding("b", "copy_code", "Copy code block"),
        Binding("up,k", "step(-1)", "Previous", show=False),
        Binding("down,j", "step(1)", "Next", show=False),
        Binding("escape,i", "leave", "Back to input", show=False),
    ]

    DEFAULT_CSS = """
    MessageView {
        height: auto;
        margin: 0 1 1 1;
        padding: 0 1;
    }
    MessageView:focus {
        background: $boost;
        outline-left: thick $accent;
    }
    """

    class Step(Message):
        def __init__(self, view: MessageView, delta: int) -> None:
            super().__init__()
            self.view = view
            self.delta = delta

    class Leave(Message):
        """Focus goes back to the input."""

    def __init__(self, record: Record, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record = record
        self._code_index = 0

    def copy_text(self) -> str:
        return record_text(self.record)

    def action_copy(self) -> None:
        text = self.copy_text()
        if not text:
            self.notify("Nothing to copy in this message.", severity="warning")
            return
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text)} characters to the clipboard.", title="Copied")

    def action_copy_code(self) -> None:
        blocks = code_blocks(self.copy_text())
        if not blocks:
            self.notify("This message has no code block.", severity="warning")
            return
        index = self._code_index % len(blocks)
        self._code_index += 1
        self.app.copy_to_clipboard(blocks[index])
        self.notify(f"Copied code block {index + 1} of {len(blocks)}.", title="Copied")

    def action_step(self, delta: int) -> None:
        self.post_message(self.Step(self, delta))

    def action_leave(self) -> None:
        self.post_message(self.Leave())


class UserMessage(MessageView):
    DEFAULT_CSS = """
    UserMessage {
        border-left: outer $accent;
        background: $accent 8%;
        padding: 0 1;
    }
    UserMessage > .who { color: $accent; text-style: bold; }
    UserMessage > .file { color: $text-muted; }
    """

    def __init__(self, record: UserRecord, **kwargs: Any) -> None:
        super().__init__(record, **kwargs)

    def compose(self):
        record = self.record
        assert isinstance(record, UserRecord)
        who = "you" + (f" → @{record.agent}" if record.agent else "")
        yield Static(who, classes="who", markup=False)
        if record.text:
            yield Static(Text(record.text), classes="body")
        for label in record.files:
            yield Static(Text(label), classes="file")
        if record.media:
            from muxi_cli.tui.widgets.media import MediaList  # deferred: with the first file

            yield MediaList(record.media)


class NoteMessage(MessageView):
    DEFAULT_CSS = """
    NoteMessage { color: $text-muted; }
    NoteMessage.-warning { color: $warning; }
    """

    def __init__(self, record: NoteRecord, **kwargs: Any) -> None:
        super().__init__(record, **kwargs)
        if record.kind == "warning":
            self.add_class("-warning")

    def compose(self):
        assert isinstance(self.record, NoteRecord)
        yield Static(Text(self.record.text))


class ErrorBox(Static):
    """An error with its hint, shown where it happened."""

    DEFAULT_CSS = """
    ErrorBox {
        height: auto;
        border: round $error;
        padding: 0 1;
        color: $text;
        background: $error 10%;
    }
    """

    def __init__(self, error: ErrorRecord, **kwargs: Any) -> None:
        super().__init__(self._render_error(error), **kwargs)
        self.error = error

    @staticmethod
    def _render_error(error: ErrorRecord) -> Text:
        text = Text()
        text.append("✗ ", style="bold red")
        text.append(error.message, style="bold")
        if error.code and error.code not in ("error",):
            text.append(f"  [{error.code}]", style="dim")
        if error.hint:
            text.append("\n")
            text.append("hint: ", style="bold")
            text.append(error.hint)
        return text


class ErrorMessage(MessageView):
    def __init__(self, record: ErrorRecord, **kwargs: Any) -> None:
        super().__init__(record, **kwargs)

    def compose(self):
        assert isinstance(self.record, ErrorRecord)
        yield ErrorBox(self.record)
