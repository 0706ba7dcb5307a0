"""Run records, stats, timelines and recalls on both engines (conftest.py:
``database`` is a SQLite file or a PostgreSQL database), from the same scripted
turns as tests/stats and tests/timeline."""

from __future__ import annotations

import threading
from pathlib import Path

from muxi_cli.protocol.events import Event
from muxi_cli.runtime.observe import EventTap
from muxi_cli.runtime.recorder import RunRecorder
from muxi_cli.stores.run_recalls import recall_figures
from muxi_cli.stores.run_rollup import SEP, read
from muxi_cli.stores.run_stats import query_stats
from muxi_cli.stores.run_timeline import query_timeline
from muxi_cli.stores.runs import RunWriter, connect
from tests.stats.test_stats_parts import turn
from tests.stores.contract.conftest import Opener
from tests.timeline.test_timeline_parts import delegating_turn


def _record(database: Path | str, *turns: list[Event]) -> None:
    writer = RunWriter(database)
    tap = EventTap()
    tap.add(RunRecorder(writer))
    for events in turns:
        for event in events:
            tap(event)
    writer.close()


def test_recorded_turns_add_up_in_the_stats(database: Path | str) -> None:
    _record(database, turn("ann"), turn("bob", cancel=True))
    conn = connect(database)
    try:
        rows = conn.execute("SELECT agent, status FROM runs ORDER BY started_at, agent")
        assert sorted(tuple(r) for r in rows.fetchall()) == [
            ("coder", "cancelled"), ("coder", "completed"),
            ("writer", "completed"), ("writer", "completed"),
        ]  # fmt: skip
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
        assert (bob.totals.turns, bob.totals.users, [g.key for g in bob.groups]) == (
            1, 1, ["bob"],
        )  # fmt: skip
        by_day = query_stats(conn, by="day")
        assert [(g.turns, g.users) for g in by_day.groups] == [(2, 2)]
        assert query_stats(conn, since="2999-01-01").totals.turns == 0
    finally:
        conn.close()


def test_writers_recording_at_once_lose_no_count(database: Path | str) -> None:
    connect(database).close()  # migrated before the writers race
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            _record(database, *(turn(f"u{n}") for _ in range(5)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    conn = connect(database)
    try:
        report = query_stats(conn, by="agent")
        t = report.totals
        assert (t.turns, t.runs, t.users, t.input_tokens) == (15, 30, 3, 15 * 17)
        # The latency histograms were added up too, bucket by bucket.
        [days] = read(conn, "", "all", "").values()
        assert sum(sum(s.duration.values()) for s in days.values()) == 15
        tools = read(conn, "", "tool", "")
        assert sum(s.duration[1500] for s in tools[f"calculator{SEP}builtin"].values()) == 15
        calc = next(x for x in report.tools if x.tool == "calculator")
        assert (calc.calls, calc.duration_p50_ms) == (15, 1500)
    finally:
        conn.close()


def test_a_sessions_timeline_and_recalls(database: Path | str, open_store: Opener) -> None:
    store = open_store()
    mine = store.create_session("ann", "maths").id
    other = store.create_session("ann", "other").id
    first, events = delegating_turn(mine)
    store.add_message(mine, "user", "\n  what is 1?\nsecond line", run_id=first)
    second, cancelled = delegating_turn(mine, cancel=True)
    _record(database, events, delegating_turn(other)[1], cancelled)
    conn = connect(database)
    try:
        turns = query_timeline(conn, mine)
        assert query_timeline(conn, "s_nothing_here") == []
        figures = recall_figures(conn, "ann")
        assert recall_figures(conn, "nobody").recalls == 0
    finally:
        conn.close()
    assert [(t.run_id, t.status, t.message) for t in turns] == [
        (first, "completed", "what is 1?"),
        (second, "cancelled", None),
    ]
    turn0 = turns[0]
    assert (turn0.agent, turn0.model, turn0.input_tokens, turn0.cost_usd) == (
        "coder", "m/coder", 10, 1.0,
    )  # fmt: skip
    assert (turn0.recalls, turn0.recall_top, turn0.route and turn0.route.method) == (
        1, 0.75, "llm",
    )  # fmt: skip
    assert [r.agent for r in turn0.walk()] == ["coder", "writer", "critic"]
    assert [x.tool for x in turn0.tools] == ["calculator", "writer"]
    assert turns[1].tools[-1].outcome == "cancelled"
    assert (figures.recalls, figures.turns) == (3, 3)
    assert [(c.memory_id, c.count, c.avg_score) for c in figures.top] == [("m1", 3, 0.75)]
    assert {r.session_id for r in figures.recent} == {mine, other}


def test_the_writer_survives_the_database_dropping_its_connection(database: Path | str) -> None:
    writer = RunWriter(database)
    tap = EventTap()
    tap.add(RunRecorder(writer))
    for event in turn("ann"):
        tap(event)
    writer.flush()
    if isinstance(database, str):  # PostgreSQL: the server drops every connection
        admin = connect(database)
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            admin.close()
    for event in turn("bob"):
        tap(event)
    writer.close()
    conn = connect(database)
    try:
        assert query_stats(conn).totals.turns == 2  # the second turn was not lost
    finally:
        conn.close()
