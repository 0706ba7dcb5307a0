"""What recording runs costs a turn, and how fast ``muxi stats`` answers.

Recording: a realistic turn's events (routing, a memory recall, 40 text
deltas, two tool calls, a delegate with its own text and usage: 64 events) are
built beforehand with fresh ids per turn, then passed through an
:class:`~muxi_cli.runtime.observe.EventTap` as ``LocalRuntime`` does, once with
no observer and once with the run recorder (its writer thread writing to a
real SQLite file meanwhile). The difference per turn is what recording adds on
the event loop. The writer's own time (off the loop) is reported as turns
written per second.

Stats: 100k turns (plus 10% delegate runs and about 150k tool calls over 90
days, 50 users, 5 agents, 4 models) are written straight into a temp
database, then each query shape of ``muxi stats`` runs on a fresh connection.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import Result
from muxi_cli.protocol.events import Event, EventFactory
from muxi_cli.runtime.observe import EventTap
from muxi_cli.runtime.recorder import RunRecorder
from muxi_cli.stores.run_stats import query_stats
from muxi_cli.stores.runs import RunRow, RunWriter, ToolRow, connect, write_rows

RECORD_TARGET_MS = 1.0
STATS_TARGET_MS = 300.0
STATS_TURNS = 100_000


def turn_events(i: int) -> list[Event]:
    """One turn's events: routed, recalled, tools, a delegate, text, usage."""
    f = EventFactory(f"s_bench{i % 100:04d}")
    d = EventFactory(f.session_id, parent_run_id=f.run_id, depth=1)
    ev: list[Event] = [
        f.run_started("coder", "alice"),
        f.agent_routed("coder", "code", "llm", router_model="openai/router"),
        f.memory_recalled([{"id": "m1", "text": "likes tea", "score": 0.71}]),
        f.usage("openai/router", 40, 8, 0.0001),
        f.tool_requested("c1", "builtin", "calculator", {"expression": "2+2"}),
        f.tool_approval("c1", "allowed", "policy"),
        f.tool_result("c1", True, "4", 1),
        f.tool_requested("c2", "agent", "writer", {"question": "haiku"}),
        d.run_started("writer", "alice"),
        *(d.text_delta(f"w{n} ") for n in range(10)),
        d.usage("openai/writer", 7, 3, 0.00002),
        d.run_completed("w0 w1"),
        f.tool_result("c2", True, "a haiku", 12),
        *(f.text_delta(f"word{n} ") for n in range(40)),
        f.usage("openai/coder", 31, 14, 0.0003),
        f.run_completed("done"),
    ]
    return ev


def _feed(tap: EventTap, turns: list[list[Event]]) -> float:
    start = time.perf_counter()
    for events in turns:
        for event in events:
            tap(event)
    return time.perf_counter() - start


def recording(quick: bool) -> list[Result]:
    n = 500 if quick else 2000
    rounds = 3 if quick else 7
    per_turn: list[float] = []
    written = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sessions.db"
        connect(db).close()  # migrated beforehand, as the runtime's store has it
        for _ in range(rounds):
            base_turns = [turn_events(i) for i in range(n)]
            rec_turns = [turn_events(i) for i in range(n)]
            base = _feed(EventTap(), base_turns)
            writer = RunWriter(db)
            tap = EventTap()
            tap.add(RunRecorder(writer))
            recorded = _feed(tap, rec_turns)
            started = time.perf_counter()
            writer.close()  # waits for what is still queued
            written = n / (recorded + time.perf_counter() - started)
            per_turn.append((recorded - base) / n * 1000)
    events = len(turn_events(0))
    cost = statistics.median(per_turn)
    return [
        Result(
            "recording, added per turn on the loop",
            round(cost, 4),
            "ms",
            f"< {RECORD_TARGET_MS} ms",
            f"{events} events a turn, median of {rounds} x {n} turns"
            + ("" if cost < RECORD_TARGET_MS else "; MISSED"),
        ),
        Result("recording, turns written per second", round(written), "turns/s", None, "writer"),
    ]


def fill(db: Path, turns: int, seed: int = 7) -> None:
    """``turns`` recorded turns written straight into ``db``."""
    rnd = random.Random(seed)
    agents = ["assistant", "coder", "writer", "analyst", "ops"]
    models = ["openai/a", "openai/b", "anthropic/c", "ollama/d"]
    tools = [("calculator", "builtin"), ("read_file", "builtin"), ("search", "web")]
    outcomes = ["ok"] * 16 + ["failed", "failed", "denied", "cancelled"]
    now = datetime.now(UTC)
    conn = connect(db)
    runs: list[RunRow] = []
    calls: list[ToolRow] = []
    for i in range(turns):
        at = (
            (now - timedelta(seconds=rnd.randrange(90 * 86400)))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        user = f"user{rnd.randrange(50)}"
        routed = rnd.random() < 0.8
        run_id = f"run_{i:08d}"
        runs.append(
            RunRow(run_id, None, f"s_{i // 5:07d}", user, rnd.choice(agents), rnd.choice(models),
                   "completed" if rnd.random() < 0.97 else "failed", None, at, at[:10],
                   rnd.randrange(100, 2000), rnd.randrange(300, 20000), rnd.randrange(50, 4000),
                   rnd.randrange(10, 800), rnd.random() / 100,
                   "llm" if routed else None, "why" if routed else None,
                   int(rnd.random() < 0.3) if routed else None, None, None,
                   rnd.randrange(4), rnd.random(), 0)
        )  # fmt: skip
        if rnd.random() < 0.1:
            runs.append(
                RunRow(f"{run_id}d", run_id, f"s_{i // 5:07d}", user, "writer", "openai/a",
                       "completed", None, at, at[:10], 200, 900, 100, 50, 0.0001,
                       None, None, None, None, None, 0, None, 0)
            )  # fmt: skip
        for seq in range(rnd.choice((0, 1, 1, 2, 3))):
            tool, server = rnd.choice(tools)
            calls.append(
                ToolRow(run_id, seq, f"c{seq}", tool, server, rnd.choice(outcomes), "policy",
                        "allowed", rnd.randrange(1, 500), at, user)
            )  # fmt: skip
        if len(runs) >= 20_000:
            write_rows(conn, runs, calls)
            runs, calls = [], []
    write_rows(conn, runs, calls)
    conn.execute("ANALYZE")
    conn.close()


def stats_queries(quick: bool) -> list[Result]:
    repeat = 3 if quick else 7
    out: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sessions.db"
        fill(db, STATS_TURNS)
        since = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
        shapes: list[tuple[str, dict[str, str | None]]] = [
            ("all time, by agent", {"by": "agent"}),
            ("all time, by model", {"by": "model"}),
            ("all time, by user", {"by": "user"}),
            ("all time, by tool", {"by": "tool"}),
            ("all time, by day", {"by": "day"}),
            ("last 7 days, by agent", {"by": "agent", "since": since}),
            ("one user, by day", {"by": "day", "user_id": "user7"}),
        ]
        for label, query in shapes:
            samples = []
            for _ in range(repeat):
                start = time.perf_counter()
                conn = connect(db)
                report = query_stats(conn, **query)  # type: ignore[arg-type]
                conn.close()
                samples.append((time.perf_counter() - start) * 1000)
            ms = statistics.median(samples)
            out.append(
                Result(
                    f"stats over 100k turns, {label}",
                    round(ms, 1),
                    "ms",
                    f"< {STATS_TARGET_MS:.0f} ms",
                    f"{report.totals.turns} turns counted"
                    + ("" if ms < STATS_TARGET_MS else "; MISSED"),
                )
            )
    return out


def run(quick: bool) -> list[Result]:
    return recording(quick) + stats_queries(quick)
