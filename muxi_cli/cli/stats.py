"""``muxi stats``: what the agents did, from the recorded runs.

Goes through the :class:`~muxi_cli.runtime.base.Runtime` like every command, so
it answers for this machine or, with ``-P``, for a server (an admin key sees
every user or ``--user``'s; a user key its own). The figures and their counting
rules: protocol/stats.py. Bars and sparklines are plain text (block characters).

Exit codes: 0 ok, 1 runtime error, 2 usage error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from muxi_cli.cli.context import run_with_runtime
from muxi_cli.cli.output import Column, info, out_console, print_json, print_table

if TYPE_CHECKING:
    from muxi_cli.protocol.stats import StatsGroup, StatsReport
    from muxi_cli.runtime.base import Runtime

SPARKS = "▁▂▃▄▅▆▇█"
BAR_WIDTH = 16


def sparkline(values: list[int]) -> str:
    """One block character per value, scaled to the largest."""
    top = max(values, default=0)
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, v * (len(SPARKS) - 1) // top)] for v in values)


def bar(value: float, top: float, width: int = BAR_WIDTH) -> str:
    """A bar of up to ``width`` full blocks, at least one for any non-zero value."""
    if top <= 0 or value <= 0:
        return ""
    return "█" * max(1, round(width * value / top))


def _ms(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f}s" if value >= 1000 else f"{value}ms"


def _cost(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def stats(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="Only runs since: 7d, 12h, 30m or 2026-12-01.")
    ] = None,
    by: Annotated[
        str, typer.Option("--by", help="Group by agent, model, user, tool or day.")
    ] = "agent",
    user: Annotated[
        str | None, typer.Option("--user", help="Only this user's runs (admin keys).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Turns, tokens, cost, latency, tools, routing and memory recalls of the recorded runs."""

    async def work(rt: Runtime) -> StatsReport:
        return await rt.stats(since=since, by=by, user_id=user)

    report = run_with_runtime(ctx, work)
    if as_json:
        print_json(report.to_dict())
        return
    if not report.totals.runs:
        info("No runs recorded" + (" in that time." if since else " yet. Start with `muxi chat`."))
        return
    _print(report)


def _print(report: StatsReport) -> None:
    t = report.totals
    console = out_console()
    console.print(
        f"[bold]{t.turns}[/bold] turns ({t.runs} runs), {t.users} user(s), "
        f"{t.input_tokens:,} in / {t.output_tokens:,} out tokens, {_cost(t.cost_usd)}; "
        f"failed {t.failed}, cancelled {t.cancelled}",
        highlight=False,
    )
    console.print(
        f"latency: first token p50 {_ms(t.first_token_p50_ms)} p95 {_ms(t.first_token_p95_ms)}, "
        f"whole turn p50 {_ms(t.duration_p50_ms)} p95 {_ms(t.duration_p95_ms)}",
        highlight=False,
    )
    if len(report.daily) > 1:
        days = report.daily
        console.print(
            f"turns per day {days[0][0]} .. {days[-1][0]}: {sparkline([n for _, n in days])}",
            highlight=False,
        )
    if report.by != "tool":
        _groups(report.by, report.groups)
    _tools(report)
    _routing(report)
    if report.recall_turns:
        avg = report.recall_top_score_avg
        score = f"{avg:.3f}" if avg is not None else "-"
        console.print(
            f"memory: {report.recalls_per_turn:.2f} recalls per turn, "
            f"{report.recall_turns} turn(s) recalled, mean top score {score}",
            highlight=False,
        )


def _groups(by: str, groups: list[StatsGroup]) -> None:
    from rich.markup import escape  # deferred: rich is slow to import

    top = max((g.runs for g in groups), default=0)
    rows = [
        [
            escape(g.key or "-"),
            str(g.turns),
            str(g.runs),
            f"{g.input_tokens:,}",
            f"{g.output_tokens:,}",
            _cost(g.cost_usd),
            _ms(g.first_token_p50_ms),
            _ms(g.duration_p50_ms),
            _ms(g.duration_p95_ms),
            str(g.failed),
            bar(g.runs, top),
        ]
        for g in groups
    ]
    columns = [
        Column(by.upper(), style="cyan"),
        *(
            Column(h, justify="right")
            for h in ("TURNS", "RUNS", "IN", "OUT", "COST", "FIRST P50", "P50", "P95", "FAILED")
        ),
        Column("SHARE", wrap=True),
    ]
    print_table(columns, rows, title=f"by {by}")


def _tools(report: StatsReport) -> None:
    if not report.tools:
        return
    from rich.markup import escape  # deferred: rich is slow to import

    top = max(t.calls for t in report.tools)
    rows = [
        [
            escape(t.tool),
            escape(t.server or "-"),
            str(t.calls),
            _pct(t.failed, t.calls),
            _pct(t.denied, t.calls),
            _ms(t.duration_p50_ms),
            _ms(t.duration_p95_ms),
            bar(t.calls, top),
        ]
        for t in report.tools
    ]
    columns = [
        Column("TOOL", style="cyan"),
        Column("SERVER"),
        *(Column(h, justify="right") for h in ("CALLS", "FAILED", "DENIED", "P50", "P95")),
        Column("SHARE", wrap=True),
    ]
    print_table(columns, rows, title="tools")


def _routing(report: StatsReport) -> None:
    if not report.routing:
        return
    from rich.markup import escape  # deferred: rich is slow to import

    top = max(r.turns for r in report.routing)
    rows = [
        [
            escape(r.agent or "-"),
            escape(r.method or "-"),
            str(r.turns),
            str(r.cached),
            str(r.fallbacks),
            bar(r.turns, top),
        ]
        for r in report.routing
    ]
    columns = [
        Column("AGENT", style="cyan"),
        Column("METHOD"),
        *(Column(h, justify="right") for h in ("TURNS", "CACHED", "FALLBACKS")),
        Column("SHARE", wrap=True),
    ]
    print_table(columns, rows, title="routing")
    out_console().print(
        f"route cache hit rate {_pct(report.route_cache_hits, report.routed)}, "
        f"router fallbacks {report.router_fallbacks}",
        highlight=False,
    )
