"""The memory screen's two views of the current user's memories: their figures
(``s``: kinds, ages, decay scores, replaced facts, recalls) and their map (``m``:
the embeddings projected to 2-D and grouped, each group named by its most
typical memory). Both come from the runtime (computed where the memories are)
and are drawn with the standard library (tui/memstats_text.py, tui/mapdraw.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from muxi_cli.errors import MuxiError
from muxi_cli.protocol.memstats import cluster_letter
from muxi_cli.tui import mapdraw
from muxi_cli.tui.memstats_text import stats_lines

if TYPE_CHECKING:
    from muxi_cli.protocol.memstats import MemoryMap, MemoryStats
    from muxi_cli.runtime.base import Runtime

View = Literal["stats", "map"]


class MemoryVizScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    MemoryVizScreen { align: center middle; }
    MemoryVizScreen > Vertical {
        width: 110; max-width: 96%; height: 85%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    MemoryVizScreen VerticalScroll { height: 1fr; }
    MemoryVizScreen .hint { color: $text-muted; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("s", "view('stats')", "Stats"),
        Binding("m", "view('map')", "Map"),
        Binding("r", "reload", "Reload", show=False),
    ]
    HINT = "s stats · m map · r reload · Esc back"

    def __init__(self, runtime: Runtime, view: View = "stats") -> None:
        super().__init__()
        self.runtime = runtime
        self.view: View = view
        self.stats: MemoryStats | None = None
        self.map: MemoryMap | None = None

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Memory"
            with VerticalScroll():
                yield Static("Loading…", id="body")
            yield Label(self.HINT, classes="hint")

    @property
    def body(self) -> Static:
        return self.query_one("#body", Static)

    def on_mount(self) -> None:
        self.action_view(self.view)

    def action_view(self, view: View) -> None:
        self.view = view
        self.query_one(Vertical).border_title = f"Memory · {view}"
        if (self.stats if view == "stats" else self.map) is None:
            self.body.update("Loading…")
            self.run_worker(self._load(view), group="load", exclusive=True)
        else:
            self.draw()

    def action_reload(self) -> None:
        self.stats = self.map = None
        self.action_view(self.view)

    async def _load(self, view: View) -> None:
        try:
            if view == "stats":
                self.stats = await self.runtime.memory_stats()
            else:
                self.map = await self.runtime.memory_map()
        except Exception as exc:
            message = exc.message if isinstance(exc, MuxiError) else f"{type(exc).__name__}: {exc}"
            hint = exc.hint if isinstance(exc, MuxiError) and exc.hint else ""
            self.body.update(Text(f"{message}\n{hint}".strip(), style="red"))
            return
        if view == self.view:
            self.draw()

    def on_resize(self, event: events.Resize) -> None:
        if self.view == "map" and self.map is not None:
            self.draw()

    def _width(self) -> int:
        width = self.body.content_region.width or self.size.width - 8
        return max(20, width)

    def draw(self) -> None:
        width = self._width()
        if self.view == "stats" and self.stats is not None:
            self.body.update(Text("\n".join(stats_lines(self.stats, width=width))))
        elif self.view == "map" and self.map is not None:
            self.body.update(map_text(self.map, width - 2))

    def action_close(self) -> None:
        self.dismiss(None)


def map_text(found: MemoryMap, width: int) -> Text:
    """The framed character plot, coloured by group, and its legend."""
    if not found.points:
        return Text("No memories with embeddings yet: nothing to map.")
    width = max(18, width)
    height = max(8, min(24, width // 3))
    styles = {cluster_letter(c.index): mapdraw.colour(c.index) for c in found.clusters}
    out = Text(f"{len(found.points)} memories in {len(found.clusters)} groups\n")
    out.append("┌" + "─" * width + "┐\n")
    for line in mapdraw.plot_lines(found, width, height):
        out.append("│")
        for ch in line:
            out.append(ch, style=styles.get(ch, ""))
        out.append("│\n")
    out.append("└" + "─" * width + "┘\n")
    for line in mapdraw.legend_lines(found, width + 2):
        out.append(line + "\n", style=styles.get(line[:1], ""))
    return out
