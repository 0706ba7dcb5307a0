"""``muxi stats`` over the run rollups (stores/run_rollup.py).

SQL selects the rollup rows of the query (one user or every user, one figure,
from a day on: an index range, a few hundred rows for 100k turns); what is
left is adding those rows' sums and histograms, never a pass over the runs
themselves (benchmarks/bench_runs.py: < 300 ms over 100k turns).
Blocking: call it from a thread.
"""

from __future__ import annotations

from muxi_cli.errors import UsageError
from muxi_cli.protocol.stats import (
    STATS_BY,
    RouteStats,
    StatsGroup,
    StatsReport,
    ToolStats,
)
from muxi_cli.stores.run_rollup import ALL, SEP, Sums, percentile, read
from muxi_cli.stores.sqldialect import DbConn


def query_stats(
    conn: DbConn,
    *,
    since: str | None = None,
    by: str = "agent",
    user_id: str | None = None,
) -> StatsReport:
    """The report over the UTC days from ``since`` (``YYYY-MM-DD``) on, of
    ``user_id`` if given (else every user)."""
    if by not in STATS_BY:
        raise UsageError(f"cannot group by {by!r}", hint=f"use one of: {', '.join(STATS_BY)}")
    user, day_from = user_id if user_id is not None else ALL, since or ""
    report = StatsReport(since=since, by=by, user_id=user_id)
    days = read(conn, user, "all", day_from).get("", {})
    total = _sum(days.values())
    if user == ALL:
        users = conn.execute(
            "SELECT COUNT(DISTINCT key) FROM run_rollup WHERE user_id = '' AND dim = 'user'"
            " AND day >= ?",
            (day_from,),
        ).fetchone()[0]
    else:
        users = 1 if days else 0
    report.totals = _group("", total, users)
    c = total.counts
    report.routed, report.route_cache_hits = int(c["routed"]), int(c["cached"])
    report.router_fallbacks = int(c["fallbacks"])
    report.recalls, report.recall_turns = int(c["recalls"]), int(c["recall_turns"])
    if c["recall_top_n"]:
        report.recall_top_score_avg = round(c["recall_top_sum"] / c["recall_top_n"], 4)
    report.daily = sorted((day, int(s.counts["turns"])) for day, s in days.items())
    if by == "day":
        per_day = dict.fromkeys(days, 1)
        if user == ALL:
            per_day = dict(
                conn.execute(
                    "SELECT day, COUNT(*) FROM run_rollup WHERE user_id = '' AND dim = 'user'"
                    " AND day >= ? GROUP BY day",
                    (day_from,),
                ).fetchall()
            )
        report.groups = [_group(day, s, per_day.get(day, 0)) for day, s in sorted(days.items())]
    elif by == "user" and user != ALL:  # one user's rows keep no ``user`` figure
        report.groups = [_group(user, total, 1)] if days else []
    elif by != "tool":
        rows = read(conn, user, by, day_from)
        report.groups = sorted(
            (_group(k, _sum(d.values()), 1 if by == "user" else None) for k, d in rows.items()),
            key=lambda g: (-g.runs, g.key),
        )
    report.tools = sorted(
        (_tool(k, _sum(d.values())) for k, d in read(conn, user, "tool", day_from).items()),
        key=lambda t: (-t.calls, t.tool, t.server),
    )
    report.routing = sorted(
        (_route(k, _sum(d.values())) for k, d in read(conn, user, "route", day_from).items()),
        key=lambda r: (-r.turns, r.agent, r.method),
    )
    return report


def _sum(rows: object) -> Sums:
    total = Sums()
    for s in rows:  # type: ignore[attr-defined]
        total.add(s)
    return total


def _group(key: str, s: Sums, users: int | None) -> StatsGroup:
    c = s.counts
    return StatsGroup(
        key=key,
        turns=int(c["turns"]),
        runs=int(c["runs"]),
        users=users,
        failed=int(c["failed"]),
        cancelled=int(c["cancelled"]),
        input_tokens=int(c["input_tokens"]),
        output_tokens=int(c["output_tokens"]),
        cost_usd=round(float(c["cost_usd"]), 6),
        first_token_p50_ms=percentile(s.first_token, 0.5),
        first_token_p95_ms=percentile(s.first_token, 0.95),
        duration_p50_ms=percentile(s.duration, 0.5),
        duration_p95_ms=percentile(s.duration, 0.95),
    )


def _tool(key: str, s: Sums) -> ToolStats:
    tool, _, server = key.partition(SEP)
    c = s.counts
    return ToolStats(
        tool=tool,
        server=server,
        calls=int(c["runs"]),
        ok=int(c["ok"]),
        failed=int(c["failed"]),
        denied=int(c["denied"]),
        cancelled=int(c["cancelled"]),
        duration_p50_ms=percentile(s.duration, 0.5),
        duration_p95_ms=percentile(s.duration, 0.95),
    )


def _route(key: str, s: Sums) -> RouteStats:
    agent, _, method = key.partition(SEP)
    c = s.counts
    return RouteStats(
        agent=agent,
        method=method,
        turns=int(c["routed"]),
        cached=int(c["cached"]),
        fallbacks=int(c["fallbacks"]),
    )
