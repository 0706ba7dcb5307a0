"""How fast a session's timeline answers (``muxi sessions show ID --timeline``).

The database holds 100k recorded turns (benchmarks/bench_runs.py ``fill``:
five turns a session, 10% with a delegate, about 150k tool calls) plus one
long session of 1000 turns, each with a routing decision, two tool calls and
a delegate with a tool call of its own. Each query runs on a fresh connection,
as ``LocalRuntime.timeline`` does: the session's runs come from the
``runs_by_session`` index, their tool calls from ``run_tools``' primary key,
so the answer time depends on the session's size, not on the database's.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.bench_runs import STATS_TURNS, fill
from benchmarks.common import Result, median_ms
from muxi_cli.stores.run_timeline import query_timeline
from muxi_cli.stores.runs import RunRow, ToolRow, connect, write_rows

TARGET_MS = 100.0
LONG = 1000


def long_session(db: Path, sid: str, turns: int) -> None:
    """``turns`` turns in one session, each with two tool calls and a delegate."""
    start = datetime.now(UTC) - timedelta(days=1)
    runs: list[RunRow] = []
    calls: list[ToolRow] = []
    for i in range(turns):
        at = (start + timedelta(seconds=30 * i)).isoformat(timespec="milliseconds")
        at = at.replace("+00:00", "Z")
        top, sub = f"run_long{i:06d}", f"run_long{i:06d}d"
        runs.append(
            RunRow(top, None, sid, "alice", "coder", "openai/a", "completed", None, at, at[:10],
                   300, 2500, 900, 120, 0.002, "llm", "code", 0, None, "openai/r", 1, 0.7, 1)
        )  # fmt: skip
        runs.append(
            RunRow(sub, top, sid, "alice", "writer", "openai/b", "completed", None, at, at[:10],
                   100, 800, 200, 40, 0.0004, None, None, None, None, None, 0, None, 0)
        )  # fmt: skip
        for seq, (run_id, tool, server) in enumerate(
            ((top, "calculator", "builtin"), (top, "writer", "agent"), (sub, "search", "web"))
        ):
            calls.append(
                ToolRow(run_id, seq, f"c{seq}", tool, server, "ok", "policy", "allowed", 12, at,
                        "alice")
            )  # fmt: skip
    conn = connect(db)
    write_rows(conn, runs, calls)
    conn.close()


def run(quick: bool) -> list[Result]:
    repeat = 3 if quick else 7
    out: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sessions.db"
        fill(db, STATS_TURNS)
        long_session(db, "s_long", LONG)

        def timeline(sid: str) -> int:
            conn = connect(db)
            try:
                return len(query_timeline(conn, sid))
            finally:
                conn.close()

        for label, sid in (("a 5-turn session", "s_0001234"), (f"a {LONG}-turn session", "s_long")):
            turns = timeline(sid)
            ms = median_ms(lambda sid=sid: timeline(sid), repeat)  # type: ignore[misc]
            out.append(
                Result(
                    f"timeline of {label} among 100k turns",
                    round(ms, 1),
                    "ms",
                    f"< {TARGET_MS:.0f} ms",
                    f"{turns} turns" + ("" if ms < TARGET_MS else "; MISSED"),
                )
            )
    return out
