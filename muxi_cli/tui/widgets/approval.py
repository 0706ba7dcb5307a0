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
#: Why "always" is not offered when the connection cannot save it.
NO_ALWAYS = 'No "always allow": on this server only an admin key can save it.'


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
        Binding("2,a", "explain_always", show=False),  # when "always" is not offered
        Binding("3,n,d", "decide('deny')", "Deny"),
        # Esc cancels the whole reply (the tool does not run), as everywhere in the chat.
        Binding("escape", "screen.cancel_reply", "Cancel reply", show=False),
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

    def __init__(self, call: ToolCall, *, always: bool | None = None, **kwargs: Any) -> None:
        """``always``: whether "always allow" can be saved (None: ask the app)."""
        super().__init__(**kwargs)
        self.call = call
        self.decided: str | None = None
        self._always = always

    @property
    def always_offered(self) -> bool:
        if self._always is None:
            self._always = bool(getattr(self.app, "always_saves", True))
        return self._always

    @property
    def choices(self) -> tuple[tuple[str, str, str], ...]:
        if self.always_offered:
            return CHOICES
        return tuple(c for c in CHOICES if c[0] != "always")

    def render(self) -> Text:
        text = Text()
        text.append("Allow ", style="bold")
        text.append(self.call.name, style="bold yellow")
        text.append(" to run?\n", style="bold")
        text.append(formatting.one_line(self.call.arguments, 200) + "\n", style="dim")
        for index, (_, key, label) in enumerate(self.choices):
            style = "reverse bold" if index == self.selected else ""
            text.append(f" {key} {label} ", style=style)
            text.append("  ")
        if not self.always_offered:
            text.append("\n" + NO_ALWAYS, style="dim italic")
        text.append("\n←/→ move · Enter choose · Esc cancels the reply", style="dim")
        return text

    def action_move(self, delta: int) -> None:
        self.selected = (self.selected + delta) % len(self.choices)

    def action_noop(self) -> None:
        """Swallow a key."""

    def action_choose(self) -> None:
        self.action_decide(self.choices[self.selected][0])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "decide" and parameters == ("always",):
            return self.always_offered
        if action == "explain_always":
            return not self.always_offered
        return True

    def action_explain_always(self) -> None:
        self.notify(NO_ALWAYS, severity="warning", timeout=6)

    def action_decide(self, decision: str) -> None:
        if self.decided is not None:
            return
        self.decided = decision
        self.post_message(self.Decided(self, decision))

    def on_click(self) -> None:
        self.focus()
