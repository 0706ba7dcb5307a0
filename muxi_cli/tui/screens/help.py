"""The help screen: every key, every slash command, every screen."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from muxi_cli.tui.commands import COMMANDS

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Input",
        (
            ("Enter", "send the message (or accept the highlighted completion)"),
            ("Shift+Enter / Ctrl+J", "new line (Ctrl+J works in every terminal)"),
            ("Up / Down", "earlier prompts (on the first / last line)"),
            ("Tab", "accept a completion (`/commands`, `@agents`)"),
            ("Esc", "close the completion menu, or cancel the running reply"),
            ("Page Up / Page Down", "scroll the transcript"),
            ("Ctrl+Up", "move to the messages (copy mode)"),
            ("@name message", "send this message to agent *name*"),
            (
                "/attach PATH",
                "attach a file (Tab completes the path); pasting a path or dropping a file does it too",
            ),
            ("Backspace", "in an empty input: take off the last attached file (or click its ×)"),
            ("//text", "send text that starts with a slash"),
        ),
    ),
    (
        "Messages (after Ctrl+Up)",
        (
            ("Up / Down (k / j)", "previous / next message"),
            ("c", "copy the message"),
            ("b", "copy its code blocks, one per press"),
            ("Enter / Space", "expand or collapse a tool call or memories"),
            ("Esc / i", "back to the input"),
        ),
    ),
    (
        "Tool approval",
        (
            ("1 / y", "allow once"),
            ("2 / a", "always allow (saved; on a server, admin keys only)"),
            ("3 / n / d", "deny (the reply goes on without the tool)"),
            ("Left / Right, Enter", "move and choose"),
            ("Esc", "cancel the whole reply (the tool does not run)"),
        ),
    ),
    (
        "Everywhere",
        (
            ("Ctrl+N", "new session"),
            ("Ctrl+O", "sessions"),
            ("Ctrl+G", "agent picker"),
            ("Ctrl+T", "theme"),
            ("Ctrl+P", "command palette (all actions)"),
            ("F1", "this help"),
            ("F2", "dashboard: stats, charts, runs in flight"),
            ("Ctrl+Q", "quit"),
        ),
    ),
    (
        "Dashboard (F2 or /dashboard)",
        (
            ("1 / 2 / 3", "today / 7 days / 30 days (p: the next one)"),
            ("r", "refresh now (it refreshes itself while shown)"),
            ("Esc / q", "close"),
        ),
    ),
    (
        "Lists (sessions, memory, agents)",
        (
            ("Up / Down, Enter", "move, open"),
            ("/", "search"),
            ("r", "rename (sessions)"),
            ("t", "the session's timeline: each turn's agent, tools, tokens, cost (sessions)"),
            ("a", "add (memory)"),
            ("s / m", "the user's memory figures / a map of their memories (memory)"),
            ("d / Delete", "delete or forget"),
            ("Esc", "close"),
        ),
    ),
)


def help_markdown(log_path: str | None = None) -> str:
    out = ["# muxi keys and commands", ""]
    for title, rows in KEYS:
        out += [f"## {title}", "", "| Key | Does |", "|---|---|"]
        out += [f"| {k} | {d} |" for k, d in rows]
        out.append("")
    out += ["## Slash commands", "", "| Command | Does |", "|---|---|"]
    out += [f"| `{c.label}` | {c.help} |" for c in COMMANDS]
    out.append("")
    if log_path:
        out += ["## Logs", "", f"The app writes its log to `{log_path}`.", ""]
    return "\n".join(out)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90;
        max-width: 95%;
        height: 90%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,f1", "dismiss_help", "Close")]

    def __init__(self, log_path: str | None = None) -> None:
        super().__init__()
        self._log_path = log_path

    def compose(self) -> ComposeResult:
        with VerticalScroll(can_focus=True) as scroll:
            scroll.border_title = "Help · Esc to close"
            yield Markdown(help_markdown(self._log_path))

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
