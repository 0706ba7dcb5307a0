"""``muxi memory stats --user U`` and ``muxi memory map``: a user's memories in
figures and as a picture.

Both go through the :class:`~muxi_cli.runtime.base.Runtime`: the figures and the
projection are computed where the memories are (this machine, or the server
through a profile: ``GET /v1/memory/stats|map``), and drawn here with the
standard library only (muxi_cli/tui/memstats_text.py, muxi_cli/tui/mapdraw.py).
The map is a character plot in the terminal, or a self-contained SVG or HTML
file with ``--out``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from muxi_cli.cli.context import acting_user, run_with_runtime
from muxi_cli.cli.memory import JsonOpt, UserOpt
from muxi_cli.cli.output import fail, info, out_console, print_json, write_output_file
from muxi_cli.errors import UsageError

if TYPE_CHECKING:
    from muxi_cli.protocol.memstats import MemoryMap, MemoryStats
    from muxi_cli.runtime.base import Runtime

#: The terminal plot's size limits (characters).
MIN_WIDTH, MAX_WIDTH = 20, 120
MIN_HEIGHT, MAX_HEIGHT = 8, 30


def show_stats(ctx: typer.Context, user: str | None, as_json: bool) -> None:
    """``muxi memory stats`` for one user (its ``--user`` form, and through a profile)."""

    async def work(rt: Runtime) -> MemoryStats:
        return await rt.memory_stats(user_id=await acting_user(rt, user))

    stats = run_with_runtime(ctx, work)
    if as_json:
        print_json(stats.to_dict())
        return
    from muxi_cli.tui.memstats_text import stats_lines  # deferred: only for people

    console = out_console()
    for line in stats_lines(stats, width=max(60, console.width)):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def map_command(
    ctx: typer.Context,
    user: UserOpt = None,
    clusters: Annotated[
        int | None,
        typer.Option(
            "--clusters", "-k", min=1, max=26, help="How many groups (default: from the count)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write a self-contained FILE.svg or FILE.html instead of drawing."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A map of a user's memories: close memories are about similar things; each group
    is named by its most typical memory."""

    if out is not None and out.suffix.lower() not in (".svg", ".html", ".htm"):
        raise fail(
            UsageError(f"cannot write a map as {out.name!r}", "use --out FILE.svg or FILE.html")
        )

    async def work(rt: Runtime) -> MemoryMap:
        return await rt.memory_map(user_id=await acting_user(rt, user), clusters=clusters)

    found = run_with_runtime(ctx, work)
    if as_json:
        print_json(found.to_dict())
        return
    owner = "shared knowledge" if found.user_id == "*" else f"user {found.user_id!r}"
    if not found.points:
        info(f"No memories with embeddings for {owner} yet: nothing to map.")
        return
    if out is not None:
        from muxi_cli.tui import mapdraw  # deferred: only for --out

        title = f"Memories of {owner}"
        text = (
            mapdraw.svg(found, title)
            if out.suffix.lower() == ".svg"
            else mapdraw.html_page(found, title)
        )
        write_output_file(out, text)  # private: the file holds the user's memories
        info(f"wrote the map of {len(found.points)} memories to {out}")
        return
    draw(found, owner)


def draw(found: MemoryMap, owner: str) -> None:
    """The character plot, framed, coloured by cluster, with its legend."""
    from rich.text import Text  # deferred: rich is slow to import

    from muxi_cli.protocol.memstats import cluster_letter
    from muxi_cli.tui import mapdraw  # deferred: as above

    console = out_console()
    width = max(MIN_WIDTH, min(MAX_WIDTH, console.width - 2))
    height = max(MIN_HEIGHT, min(MAX_HEIGHT, width // 3))
    styles = {cluster_letter(c.index): mapdraw.colour(c.index) for c in found.clusters}
    console.print(
        f"{len(found.points)} memories of {owner}, {len(found.clusters)} groups",
        markup=False,
        highlight=False,
    )
    console.print("┌" + "─" * width + "┐", highlight=False)
    for line in mapdraw.plot_lines(found, width, height):
        row = Text("│")
        for ch in line:
            row.append(ch, style=styles.get(ch, ""))
        row.append("│")
        console.print(row, highlight=False)
    console.print("└" + "─" * width + "┘", highlight=False)
    for line in mapdraw.legend_lines(found, width):
        console.print(Text(line, style=styles.get(line[:1], "")), highlight=False)
    if any(
        ch == mapdraw.MIXED_CHAR for ln in mapdraw.plot_lines(found, width, height) for ch in ln
    ):
        info(f"{mapdraw.MIXED_CHAR}: memories of more than one group in one place")
