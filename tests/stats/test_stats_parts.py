"""The parts of run records and stats: the recorder's fold (a delegate, a
cancel), the rollups' histograms, ``--since``, the report's wire form, the
CLI's bars and sparklines, and the migration of an older sessions file."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from muxi_cli.cli.stats import bar, sparkline
from muxi_cli.protocol.events import Event, EventFactory
from muxi_cli.protocol.stats import StatsReport, parse_since
from muxi_cli.runtime.observe import EventTap
from muxi_cli.runtime.recorder import RunRecorder
from muxi_cli.stores.run_rollup import bucket, percentile
from muxi_cli.stores.run_stats import query_stats
from muxi_cli.stores.runs import RunWriter, connect
from muxi_cli.stores.session_schema import _V1, SCHEMA_VERSION, _statements


def turn(user: str, *, cancel: bool = False) -> list[Event]:
    f = EventFactory("s_parts0001")
    d = EventFactory(f.session_id, parent_run_id=f.run_id, depth=1)
    out: list[Event] = [
        f.run_started("coder", user),
        f.agent_routed("coder", "code", "llm", failure="router_timeout"),
        f.tool_requested("c1", "builtin", "calculator", {"expression": "1"}),
        f.tool_approval("c1", "allowed", "user"),
        f.tool_result("c1", True, "1", 1500),
        f.tool_requested("c2", "agent", "writer", {}),
        d.run_started("writer", user),
        d.text_delta("hi"),
        d.usage("m/writer", 7, 3, 0.5),
        d.run_completed("hi"),
        f.tool_result("c2", True, "hi", 20),
        f.text_delta("done"),
        f.usage("m/coder", 10, 5, 1.0),
    ]
    if cancel:
        out.append(f.tool_requested("c3", "builtin", "calculator", {}))
        out.append(f.run_failed("cancelled", "stopped"))
    else:
        out.append(f.run_completed("done"))
    return out


def test_recorded_turns_fold_into_runs_tools_and_rollups(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    writer = RunWriter(db)
    recorder = RunRecorder(writer)
    tap = EventTap()
    tap.add(recorder)
    for events in (turn("ann"), turn("bob", cancel=True)):
        for event in events:
            tap(event)
    assert recorder.pending() == 0
    writer.close()
    conn = connect(db)
    rows = conn.execute("SELECT agent, parent_run_id IS NULL, status FROM runs ORDER BY rowid")
    assert rows.fetchall() == [
        ("coder", 1, "completed"),
        ("writer", 0, "completed"),
        ("coder", 1, "cancelled"),
        ("writer", 0, "completed"),
    ]
    everyone = query_stats(conn, by="agent")
    t = everyone.totals
    assert (t.turns, t.runs, t.users, t.cancelled, t.input_tokens, t.cost_usd) == (
        2, 4, 2, 1, 34, 3.0,
    )  # fmt: skip
    assert {g.key: (g.turns, g.runs, g.users) for g in everyone.groups} == {
        "coder": (2, 2, None),
        "writer": (0, 2, None),
    }
    calc = next(x for x in everyone.tools if x.tool == "calculator")
    assert (calc.calls, calc.ok, calc.cancelled, calc.duration_p50_ms) == (3, 2, 1, 1500)
    assert (everyone.routed, everyone.router_fallbacks, everyone.route_cache_hits) == (2, 2, 0)
    bob = query_stats(conn, by="user", user_id="bob")
    assert (bob.totals.turns, bob.totals.users, [g.key for g in bob.groups]) == (1, 1, ["bob"])
    assert query_stats(conn, since="2999-01-01").totals.turns == 0
    with pytest.raises(Exception, match="cannot group by"):
        query_stats(conn, by="colour")
    conn.close()


def test_histogram_buckets_and_percentiles() -> None:
    assert [bucket(v) for v in (0, 7, 99, 100, 123, 999, 1234, 98765)] == [
        0, 7, 99, 100, 120, 990, 1200, 98000,
    ]  # fmt: skip
    hist = {10: 50, 20: 45, 900: 5}
    assert (percentile(hist, 0.5), percentile(hist, 0.95), percentile(hist, 0.99)) == (10, 20, 900)
    assert percentile({}, 0.5) is None


def test_since_is_a_utc_day() -> None:
    today = date(2026, 12, 6)
    assert parse_since("7d", today) == "2026-11-29"
    assert parse_since("2w", today) == "2026-11-22"
    assert parse_since("2026-12-01") == "2026-12-01"
    assert parse_since(None) is None
    with pytest.raises(ValueError, match="not a day"):
        parse_since("yesterday")


def test_report_round_trips_and_ignores_unknown_fields() -> None:
    report = StatsReport(by="tool", daily=[("2026-12-01", 3)], routed=4, route_cache_hits=1)
    data = report.to_dict()
    assert data["route_cache_hit_rate"] == 0.25
    data["totals"]["from_the_future"] = 1
    back = StatsReport.from_dict(data)
    assert back.to_dict() == report.to_dict()


def test_bars_and_sparklines_are_plain_text() -> None:
    assert sparkline([0, 1, 2, 4]) == "▁▂▄█"
    assert sparkline([0, 0]) == "▁▁"
    assert bar(5, 10, width=10) == "█" * 5
    assert bar(1, 1000, width=10) == "█"  # something shows for any non-zero value
    assert bar(0, 10) == ""


def test_an_older_sessions_file_gains_the_run_tables(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    conn = sqlite3.connect(db, isolation_level=None)
    for statement in _statements(_V1):
        conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.close()
    conn = connect(db)
    assert conn.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    assert query_stats(conn).totals.turns == 0
    conn.close()
