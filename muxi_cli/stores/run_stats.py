"""``muxi stats`` as SQL over the recorded runs (``runs``, ``run_tools``).

Every figure is an aggregation SQLite computes (percentiles with window
functions, nearest rank), never a Python loop over the rows, so 100k turns
answer in well under the 300 ms budget (benchmarks/bench_runs.py).
Blocking: call it from a thread.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from muxi_cli.errors import UsageError
from muxi_cli.protocol.stats import (
    STATS_BY,
    RouteStats,
    StatsGroup,
    StatsReport,
    ToolStats,
)

#: ``--by`` -> the column it groups runs by (tool groups ``run_tools``).
_KEYS = {"agent": "agent", "model": "model", "user": "user_id", "day": "day"}
_TOP = "parent_run_id IS NULL"


def query_stats(
    conn: sqlite3.Connection,
    *,
    since: str | None = None,
    by: str = "agent",
    user_id: str | None = None,
) -> StatsReport:
    """The report over runs started at or after ``since`` (ISO), of ``user_id`` if given."""
    if by not in STATS_BY:
        raise UsageError(f"cannot group by {by!r}", hint=f"use one of: {', '.join(STATS_BY)}")
    where, args = _where(since, user_id)
    report = StatsReport(since=since, by=by, user_id=user_id)
    report.totals = _groups(conn, "''", where, args)[0] if _any(conn, where, args) else StatsGroup()
    if by != "tool":
        report.groups = _groups(conn, _KEYS[by], where, args)
    report.tools = _tools(conn, where, args)
    report.routing = [
        RouteStats(agent=a, method=m, turns=n, cached=c or 0, fallbacks=f or 0)
        for a, m, n, c, f in conn.execute(
            "SELECT agent, route_method, COUNT(*), SUM(route_cached), SUM(route_failure IS NOT NULL)"
            f" FROM runs WHERE {where} AND {_TOP} AND route_method IS NOT NULL"
            " GROUP BY agent, route_method ORDER BY COUNT(*) DESC",
            args,
        )
    ]
    report.routed = sum(r.turns for r in report.routing)
    report.route_cache_hits = sum(r.cached for r in report.routing)
    report.router_fallbacks = sum(r.fallbacks for r in report.routing)
    recalls, recall_turns, top = conn.execute(
        f"SELECT SUM(recalls), SUM(recalls > 0), AVG(recall_top) FROM runs WHERE {where} AND {_TOP}",
        args,
    ).fetchone()
    report.recalls, report.recall_turns = recalls or 0, recall_turns or 0
    report.recall_top_score_avg = round(top, 4) if top is not None else None
    report.daily = [
        (day, n)
        for day, n in conn.execute(
            f"SELECT day, COUNT(*) FROM runs WHERE {where} AND {_TOP} GROUP BY day ORDER BY day",
            args,
        )
    ]
    return report


def _where(since: str | None, user_id: str | None) -> tuple[str, list[Any]]:
    clauses, args = ["1"], []
    if since:
        clauses.append("started_at >= ?")
        args.append(since)
    if user_id is not None:
        clauses.append("user_id = ?")
        args.append(user_id)
    return " AND ".join(clauses), args


def _any(conn: sqlite3.Connection, where: str, args: list[Any]) -> bool:
    return conn.execute(f"SELECT 1 FROM runs WHERE {where} LIMIT 1", args).fetchone() is not None


def _groups(conn: sqlite3.Connection, key: str, where: str, args: list[Any]) -> list[StatsGroup]:
    """Counts and sums per ``key`` over every run; latencies over the turns for
    the whole-report and per-user/day rows (a turn's latency is what a person
    waited), over every run for per-agent/model rows (a delegate's own)."""
    turns_only = key in ("''", "user_id", "day")
    lat_where = f"{where} AND {_TOP}" if turns_only else where
    groups: dict[str, StatsGroup] = {}
    for row in conn.execute(
        f"SELECT {key}, SUM({_TOP}), COUNT(*), COUNT(DISTINCT user_id),"
        " SUM(status = 'failed'), SUM(status = 'cancelled'), SUM(input_tokens),"
        " SUM(output_tokens), TOTAL(cost_usd)"
        f" FROM runs WHERE {where} GROUP BY 1 ORDER BY COUNT(*) DESC, 1",
        args,
    ):
        k = str(row[0] or "")
        turns, runs, users, failed, cancelled, tin, tout = (int(v or 0) for v in row[1:8])
        groups[k] = StatsGroup(
            k, turns, runs, users, failed, cancelled, tin, tout, round(float(row[8]), 6)
        )
    for k, p50, p95 in _percentiles(conn, "runs", key, "first_token_ms", lat_where, args):
        if k in groups:
            groups[k].first_token_p50_ms, groups[k].first_token_p95_ms = p50, p95
    for k, p50, p95 in _percentiles(conn, "runs", key, "duration_ms", lat_where, args):
        if k in groups:
            groups[k].duration_p50_ms, groups[k].duration_p95_ms = p50, p95
    return list(groups.values())


def _percentiles(
    conn: sqlite3.Connection, table: str, key: str, col: str, where: str, args: list[Any]
) -> list[tuple[str, int | None, int | None]]:
    """Nearest-rank p50 and p95 of ``col`` per ``key``."""
    sql = (
        f"WITH r AS (SELECT {key} AS k, {col} AS v, ROW_NUMBER() OVER (PARTITION BY {key}"
        f" ORDER BY {col}) AS n, COUNT(*) OVER (PARTITION BY {key}) AS c"
        f" FROM {table} WHERE {where} AND {col} IS NOT NULL)"
        " SELECT k, MIN(CASE WHEN n >= 0.5 * c THEN v END),"
        " MIN(CASE WHEN n >= 0.95 * c THEN v END) FROM r GROUP BY k"
    )
    return [(str(k or ""), p50, p95) for k, p50, p95 in conn.execute(sql, args)]


def _tools(conn: sqlite3.Connection, where: str, args: list[Any]) -> list[ToolStats]:
    key = "tool || char(31) || server"
    tools: dict[str, ToolStats] = {}
    for tool, server, calls, ok, failed, denied, cancelled in conn.execute(
        "SELECT tool, server, COUNT(*), SUM(outcome = 'ok'), SUM(outcome = 'failed'),"
        " SUM(outcome = 'denied'), SUM(outcome = 'cancelled')"
        f" FROM run_tools WHERE {where} GROUP BY tool, server ORDER BY COUNT(*) DESC, tool",
        args,
    ):
        tools[f"{tool}\x1f{server}"] = ToolStats(
            tool, server, calls, ok or 0, failed or 0, denied or 0, cancelled or 0
        )
    for k, p50, p95 in _percentiles(conn, "run_tools", key, "duration_ms", where, args):
        if k in tools:
            tools[k].duration_p50_ms, tools[k].duration_p95_ms = p50, p95
    return list(tools.values())
