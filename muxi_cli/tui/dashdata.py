"""What the dashboard shows, as text and numbers (no Textual here).

The dashboard screen (tui/screens/dashboard.py) asks the runtime for a few
stats reports and the runs in flight; these functions turn them into the
headline figures, the per-day series of its sparklines, the bar rows and the
table rows, so they can be tested without an app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from muxi_cli.protocol.live import LiveRun
from muxi_cli.protocol.stats import StatsGroup, StatsReport
from muxi_cli.tui import formatting

#: The period switch: (key, label, ``since`` for ``Runtime.stats``, days shown).
#: ``since`` counts whole UTC days with today as day 0 (protocol/stats.py).
PERIODS: tuple[tuple[str, str, str, int], ...] = (
    ("1", "Today", "0d", 1),
    ("2", "7 days", "6d", 7),
    ("3", "30 days", "29d", 30),
)

BLOCKS = "▏▎▍▌▋▊▉█"


@dataclass
class Snapshot:
    """The stats reports of one refresh: ``main`` by agent (totals, tools,
    routing), then by model, by day, and by user (``None``: not asked)."""

    main: StatsReport
    models: list[StatsGroup] = field(default_factory=list)
    days: list[StatsGroup] = field(default_factory=list)
    users: list[StatsGroup] | None = None


def _ms_pair(p50: int | None, p95: int | None) -> str:
    if p50 is None:
        return "–"
    return f"{formatting.duration(p50)} / {formatting.duration(p95)}"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def headline(report: StatsReport) -> list[tuple[str, str]]:
    """The headline figures: (label, value), in reading order."""
    t = report.totals
    calls = sum(x.calls for x in report.tools)
    failed = sum(x.failed for x in report.tools)
    denied = sum(x.denied for x in report.tools)
    turns = f"{t.turns:,}" + (f" ({t.runs:,} runs)" if t.runs != t.turns else "")
    if t.failed or t.cancelled:
        turns += f", {t.failed} failed, {t.cancelled} cancelled"
    recall = f"{report.recalls:,} ({report.recalls_per_turn:.1f}/turn"
    if report.recall_top_score_avg is not None:
        recall += f", top {report.recall_top_score_avg:.2f}"
    return [
        ("Turns", turns),
        ("Users", "–" if t.users is None else f"{t.users:,}"),
        (
            "Tokens",
            f"{formatting.tokens(t.input_tokens)} in / {formatting.tokens(t.output_tokens)} out",
        ),
        ("Cost", formatting.cost(t.cost_usd)),
        ("First token p50/p95", _ms_pair(t.first_token_p50_ms, t.first_token_p95_ms)),
        ("Turn p50/p95", _ms_pair(t.duration_p50_ms, t.duration_p95_ms)),
        ("Tool calls", f"{calls:,}: {_pct(failed, calls)} failed, {_pct(denied, calls)} denied"),
        (
            "Route cache hits",
            f"{_pct(report.route_cache_hits, report.routed)} of {report.routed:,}",
        ),
        ("Router fallbacks", f"{report.router_fallbacks:,}"),
        ("Memory recalls", recall + ")"),
    ]


def day_series(
    groups: list[StatsGroup], days: int, today: date | None = None
) -> tuple[list[float], list[float]]:
    """Turns and cost per UTC day over the last ``days`` days (oldest first),
    0 for a day with no turns (the stats by day skip such days)."""
    end = today or datetime.now(UTC).date()
    by_day = {g.key: g for g in groups}
    turns: list[float] = []
    cost: list[float] = []
    for back in range(days - 1, -1, -1):
        g = by_day.get((end - timedelta(days=back)).isoformat())
        turns.append(float(g.turns) if g else 0.0)
        cost.append(float(g.cost_usd) if g else 0.0)
    return turns, cost


def bar(value: float, top: float, width: int) -> str:
    """A horizontal bar of ``value`` against ``top`` in eighths of a cell."""
    if top <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / top * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (BLOCKS[part - 1] if part else "")


def bar_rows(items: list[tuple[str, float, str]], width: int = 10, limit: int = 6) -> str:
    """Lines of ``name  ████  label`` for the largest ``limit`` items."""
    items = sorted(items, key=lambda i: -i[1])[:limit]
    if not items:
        return "(none yet)"
    top = max(v for _, v, _ in items)
    name_w = min(14, max(len(n) for n, _, _ in items))
    return "\n".join(
        f"{formatting.clip(n or '(none)', name_w):<{name_w}} {bar(v, top, width):<{width}} {label}"
        for n, v, label in items
    )


def agent_bars(report: StatsReport) -> str:
    return bar_rows([(g.key, g.runs, f"{g.runs:,}") for g in report.groups])


def model_bars(groups: list[StatsGroup]) -> str:
    return bar_rows(
        [
            (
                g.key,
                g.input_tokens + g.output_tokens,
                formatting.tokens(g.input_tokens + g.output_tokens),
            )
            for g in groups
        ]
    )


def tool_bars(report: StatsReport) -> str:
    return bar_rows(
        [
            (
                x.tool,
                x.calls,
                f"{x.calls:,}" + (f" ({x.failed + x.denied} ✗)" if x.failed or x.denied else ""),
            )
            for x in report.tools
        ]
    )


def clock(ms: float) -> str:
    """An elapsed time that ticks: ``0:07``, ``12:34``, ``1:02:03``."""
    seconds = max(0, int(ms // 1000))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def live_cells(run: LiveRun, extra_ms: float, with_user: bool) -> list[str]:
    """One row of the runs-in-flight table, ``extra_ms`` after the report."""
    agent = ("  ↳ " if run.parent_run_id else "") + (run.agent or "?")
    tool = ""
    if run.tool is not None:
        name = run.tool.tool + (f" ({run.tool.server})" if run.tool.server else "")
        waiting = "waiting for approval" if run.tool.state == "approval" else "running"
        tool = f"{name} · {waiting} {clock(run.tool.elapsed_ms + extra_ms)}"
    used = run.input_tokens + run.output_tokens
    cells = [agent, clock(run.elapsed_ms + extra_ms), tool, str(run.tool_calls)]
    cells.append(formatting.tokens(used) if used else "")
    cells.append(run.model)
    if with_user:
        cells.insert(1, run.user_id or "")
    return cells


def user_cells(g: StatsGroup) -> list[str]:
    return [
        g.key or "(none)",
        f"{g.turns:,}",
        f"{formatting.tokens(g.input_tokens)} / {formatting.tokens(g.output_tokens)}",
        formatting.cost(g.cost_usd),
        formatting.duration(g.duration_p50_ms) or "–",
        f"{g.failed:,}",
    ]
