"""The agent picker."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from muxi_cli.protocol.records import AgentInfo

AUTO = "\x00auto"


class AgentPicker(ModalScreen[str | None]):
    """Pick the agent for the next messages ("automatic" lets the router decide)."""

    DEFAULT_CSS = """
    AgentPicker { align: center middle; }
    AgentPicker > Vertical {
        width: 80; max-width: 95%; height: auto; max-height: 80%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    AgentPicker .hint { color: $text-muted; }
    AgentPicker OptionList { height: auto; max-height: 24; border: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, agents: list[AgentInfo], current: str | None) -> None:
        super().__init__()
        self.agents = agents
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Agents"
            options = [
                Option(
                    Text.assemble(("automatic", "bold"), ("  the router picks per message", "dim")),
                    id=AUTO,
                )
            ]
            for agent in self.agents:
                line = Text.assemble((agent.name, "bold"))
                if agent.default:
                    line.append(" (default)", style="dim")
                line.append(f"  {agent.model}", style="italic dim")
                if agent.description:
                    line.append(f"\n  {agent.description}", style="dim")
                options.append(Option(line, id=agent.name))
            yield OptionList(*options, id="agent-list")
            yield Label("Enter to choose · Esc to close", classes="hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        target = self.current or AUTO
        try:
            options.highlighted = options.get_option_index(target)
        except Exception:
            options.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id or AUTO)

    def action_close(self) -> None:
        self.dismiss(None)
