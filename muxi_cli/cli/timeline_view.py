"""``muxi sessions show ID --timeline``: a session's turns as a tree.

Each turn is a node: when, the agent and how it was chosen, the first line of
the message, then model, outcome, timings, tokens and cost; under it the tool
calls in order, and under a delegation call the delegate's run (the same
shape, recursively). The rows come from ``Runtime.timeline``
(protocol/timeline.py), so through a profile they are the server's.
Stored text (messages, reasons, names) is shown as plain text, control
characters removed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import typer

from muxi_cli.cli.context import run_with_runtime
from muxi_cli.cli.output import info, out_console, print_json
from muxi_cli.protocol.timeline import TimelineTurn, format_ms, timeline_dict
from muxi_cli.termtext import strip_controls

if TYPE_CHECKING:
    from rich.text import Text
    from rich.tree import Tree

    from muxi_cli.protocol.records import SessionInfo
    from muxi_cli.runtime.base import Runtime

_STATUS_STYLE = {"completed": "green", "failed": "red", "cancelled": "yellow"}
_OUTCOME_STYLE = {"ok": "green", "failed": "red", "denied": "red", "cancelled": "yellow"}


def show_timeline(ctx: typer.Context, session_id: str, as_json: bool) -> None:
    """Print the session's timeline (JSON: the same object the server's route sends)."""

    async def load(rt: Runtime) -> tuple[SessionInfo, list[TimelineTurn]]:
        found = await rt.session(session_id)
        return found, await rt.timeline(found.id)

    found, turns = run_with_runtime(ctx, load)
    if as_json:
        print_json(timeline_dict(found.id, turns))
        return
    console = out_console()
    for item in render_timeline(found, turns):
        console.print(item)
    if not turns:
        info("No recorded turns in this session (turns are recorded as they finish).")


def cost_text(usd: float | None) -> str:
    if usd is None:
        return "cost unknown"
    return f"${usd:.4f}" if usd < 1 else f"${usd:.2f}"


def when(ts: str) -> str:
    """The local time of an ISO timestamp (``2026-12-06 19:34:50``)."""
    try:
        at = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ts
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def render_timeline(found: SessionInfo, turns: list[TimelineTurn]) -> list[Text | Tree]:
    """Rich renderables: a header with the session's totals, then a tree per turn."""
    from rich.text import Text  # deferred: rich is slow to import

    runs = [r for t in turns for r in t.walk()]
    head = Text(strip_controls(found.title or "(untitled)"), style="bold")
    head.append(f"  {found.id}", style="cyan")
    costs = [r.cost_usd for r in runs if r.cost_usd is not None]
    facts = (
        f"{len(turns)} turn(s), {len(runs)} run(s) · "
        f"{sum(r.input_tokens for r in runs):,} in / {sum(r.output_tokens for r in runs):,} out"
        f" tokens · {cost_text(round(sum(costs), 6) if costs else None)}"
    )
    failed = sum(1 for t in turns if t.status != "completed")
    if failed:
        facts += f" · {failed} not completed"
    out: list[Text | Tree] = [head, Text(facts, style="dim")]
    for n, turn in enumerate(turns, 1):
        out.append(Text(""))
        out.append(turn_tree(n, turn))
    return out


def turn_tree(n: int, turn: TimelineTurn) -> Tree:
    from rich.text import Text  # deferred: rich is slow to import
    from rich.tree import Tree  # deferred: rich is slow to import

    label = Text(f"#{n} ", style="bold")
    label.append(when(turn.started_at), style="dim")
    label.append("  ")
    label.append(strip_controls(turn.agent or "-"), style="bold green")
    if turn.route is not None:
        label.append("  ← " + strip_controls(turn.route.summary()), style="dim")
    if turn.message:
        label.append("\n")
        label.append(f"“{strip_controls(turn.message)}”", style="italic")
    label.append("\n")
    label.append_text(run_facts(turn))
    tree = Tree(label, guide_style="dim")
    _add_steps(tree, turn)
    return tree


def run_facts(run: TimelineTurn) -> Text:
    """``model · completed · first 96ms · 99ms · 101 in / 27 out · $0.0005``."""
    from rich.text import Text  # deferred: rich is slow to import

    text = Text(strip_controls(run.model or "model unknown"), style="magenta")
    text.append(" · ")
    text.append(run.status, style=_STATUS_STYLE.get(run.status, ""))
    if run.error_code and run.status != "completed":
        text.append(f" ({strip_controls(run.error_code)})", style="red")
    text.append(
        f" · first {format_ms(run.first_token_ms)} · total {format_ms(run.duration_ms)}"
        f" · {run.input_tokens:,} in / {run.output_tokens:,} out · {cost_text(run.cost_usd)}",
        style="dim",
    )
    if run.recalls:
        top = f", top {run.recall_top:.2f}" if run.recall_top is not None else ""
        what = "memory" if run.recalls == 1 else "memories"
        text.append(f" · {run.recalls} {what} recalled{top}", style="dim")
    return text


def _add_steps(tree: Tree, run: TimelineTurn) -> None:
    from rich.text import Text  # deferred: rich is slow to import

    for tool, child in run.steps():
        node = tree
        if tool is not None:
            line = Text(strip_controls(tool.label))
            line.append(" ")
            line.append(tool.outcome or "unknown", style=_OUTCOME_STYLE.get(tool.outcome, ""))
            line.append(strip_controls(tool.detail()), style="dim")
            node = tree.add(line)
        if child is not None:
            label = Text("↳ ", style="dim")
            label.append(strip_controls(child.agent or "-"), style="bold green")
            label.append("  ")
            label.append_text(run_facts(child))
            _add_steps(node.add(label), child)
