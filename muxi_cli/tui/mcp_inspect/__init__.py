"""``muxi mcp inspect``: an interactive MCP inspector (also opened by ``/mcp inspect``).

:class:`McpInspectScreen` works on a :class:`~muxi_cli.mcpdev.session.DevSession`
(it connects on mount and closes it when it goes away); :class:`McpInspectApp`
is the stand-alone app around it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from muxi_cli.tui.mcp_inspect.screen import McpInspectScreen

if TYPE_CHECKING:
    from muxi_cli.mcpdev.session import DevSession

__all__ = ["McpInspectApp", "McpInspectScreen"]


class McpInspectApp(App[None]):
    TITLE = "muxi mcp inspect"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, session: DevSession) -> None:
        super().__init__()
        self.session = session
        self.screen_ref: McpInspectScreen | None = None

    def on_mount(self) -> None:
        self.screen_ref = McpInspectScreen(self.session, closable=False)
        self.push_screen(self.screen_ref)
