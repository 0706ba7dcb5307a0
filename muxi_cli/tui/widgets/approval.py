"""The keyboard-driven approval prompt for a tool call whose policy is ``ask``."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from muxi_cli.tui import formatting
from muxi_cli.tui.model import ToolCall

CHOICES: tuple[tuple[str, str, str], ...] = (
    ("allow", "1", "Allow once"),
    ("always", "2", "Always allow"),
    ("deny", "3", "Deny"),
)


class ApprovalPrompt(Widget, can_focus=True):
    """Allow once / always allow / deny, chosen with the keyboard (or the mouse)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,up,shift+tab,h", "move(-1)", "Previous", show=False),
        Binding("right,down,tab,l", "move(1)", "Next", show=False),
        # Keys of the surrounding message (copy, step) do nothing while a decision is due.
        Binding("c,b,k,j,i", "noop", show=False),
        Binding("enter,space", "choose", "Choose"),
        Binding("1,y", "decide('allow')", "Allow once"),
        Binding("2,a", "decide('always')", "Always allow"),
        Binding("3,n,d", "decide('deny')", "Deny"),
        Binding("escape", "decide('deny')", "Deny", show=False),
    ]

    DEFAULT_CSS = """
    ApprovalPrompt {
        height: auto;
        border: round $warning;
        padding: 0 1;
        margin: 0 0 0 2;
        background: $warning 8%;
    }
    ApprovalPrompt:focus { border: double $warning; }
    """

    selected = reactive(0)

    class Decided(Message):
        def __init__(self, prompt: ApprovalPrompt, decision: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.decision = decision

        @property
        def call_id(self) -> str:
            return self.prompt.call.call_id

    def __init__(self, call: ToolCall, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.call = call
        self.decided: str | None = None

    def render(self) -> Text:
        text = Text()
        text.append("Allow ", style="bold")
        text.append(self.call.name, style="bold yellow")
        text.append(" to run?\n", style="bold")
        text.append(formatting.one_line(self.call.arguments, 200) + "\n", style="dim")
        for index, (_, key, label) in enumerate(CHOICES):
            style = "reverse bold" if index == self.selected else ""
            text.append(f" {key} {label} ", style=style)
            text.append("  ")
        text.append("\n←/→ move · Enter choose · Esc deny", style="dim")
        return text

    def action_move(self, delta: int) -> None:
        self.selected = (self.selected + delta) % len(CHOICES)

    def action_noop(self) -> None:
        """Swallow a key."""

    def action_choose(self) -> None:
        self.action_decide(CHOICES[self.selected][0])

    def action_decide(self, decision: str) -> None:
        if self.decided is not None:
            return
        self.decided = decision
        self.post_message(self.Decided(self, decision))

    def on_click(self) -> None:
        self.focus()
