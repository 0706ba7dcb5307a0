"""Sums of the recorded runs per user, figure, day and key (``run_rollup``).

``muxi stats`` reads these, never the raw rows: a query over 100k turns then
reads a few hundred rows (benchmarks/bench_runs.py). The run writer updates
them in the transaction that inserts the runs, so they always agree with
``runs`` and ``run_tools``.

Each finished run adds to the rows of user ``""`` (every user) and of its own
user, for the dims ``all`` (key ``""``), ``agent``, ``model``, ``tool``
(key ``tool\\x1fserver``; ``runs`` counts calls) and ``route`` (key
``agent\\x1fmethod``; ``turns`` counts routed turns), and, for ``""`` only,
``user`` (key: the user id). Latencies are histograms (:func:`bucket`: two
significant digits), so percentiles are exact to two digits, whatever the
number of runs. Turn latency (dims ``all``, ``user``) counts top-level runs;
``agent`` and ``model`` count every run of theirs, delegates included.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from muxi_cli.stores.sqldialect import DbConn, dialect_of

if TYPE_CHECKING:
    from muxi_cli.stores.runs import RunRow, ToolRow

SEP = "\x1f"
ALL = ""
_COUNTS = [
    "turns",
    "runs",
    "failed",
    "cancelled",
    "ok",
    "denied",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "recalls",
    "recall_turns",
    "recall_top_sum",
    "recall_top_n",
    "routed",
    "cached",
    "fallbacks",
]


def bucket(ms: int) -> int:
    """``ms`` to two significant digits, rounded down (0-99 exactly)."""
    step = 1
    while ms >= 100 * step:
        step *= 10
    return ms - ms % step


def percentile(hist: dict[int, int], pct: float) -> int | None:
    """Nearest-rank percentile of a histogram (``None`` when empty)."""
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = pct * total, 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return max(hist)


@dataclass
class Sums:
    """One rollup row's figures."""

    counts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))
    first_token: dict[int, int] = field(default_factory=dict)
    duration: dict[int, int] = field(default_factory=dict)

    def add(self, other: Sums) -> None:
        for k, v in other.counts.items():
            self.counts[k] += v
        for mine, theirs in (
            (self.first_token, other.first_token),
            (self.duration, other.duration),
        ):
            for b, n in theirs.items():
                mine[b] = mine.get(b, 0) + n


def _latency(s: Sums, first_token: int | None, duration: int | None) -> None:
    if first_token is not None:
        b = bucket(first_token)
        s.first_token[b] = s.first_token.get(b, 0) + 1
    if duration is not None:
        b = bucket(duration)
        s.duration[b] = s.duration.get(b, 0) + 1


Key = tuple[str, str, str, str]  # user_id, dim, day, key


def fold(runs: Iterable[RunRow], tools: Iterable[ToolRow]) -> dict[Key, Sums]:
    """What a batch of runs and tool calls adds to each rollup row."""
    acc: dict[Key, Sums] = defaultdict(Sums)
    for r in runs:
        top = r.parent_run_id is None
        for user in (ALL, r.user_id):
            keys = [("all", ""), ("agent", r.agent), ("model", r.model)]
            if user == ALL:
                keys.append(("user", r.user_id))
            for dim, key in keys:
                s = acc[(user, dim, r.day, key)]
                c = s.counts
                c["runs"] += 1
                c["turns"] += top
                c["failed"] += r.status == "failed"
                c["cancelled"] += r.status == "cancelled"
                c["input_tokens"] += r.input_tokens
                c["output_tokens"] += r.output_tokens
                c["cost_usd"] += r.cost_usd or 0.0
                if top or dim in ("agent", "model"):
                    _latency(s, r.first_token_ms, r.duration_ms)
                if top and dim == "all":
                    c["recalls"] += r.recalls
                    c["recall_turns"] += r.recalls > 0
                    if r.recall_top is not None:
                        c["recall_top_sum"] += r.recall_top
                        c["recall_top_n"] += 1
            if top and r.route_method is not None:
                for s in (acc[(user, "all", r.day, "")], acc[(user, "route", r.day, _route(r))]):
                    s.counts["routed"] += 1
                    s.counts["cached"] += bool(r.route_cached)
                    s.counts["fallbacks"] += r.route_failure is not None
    for t in tools:
        for user in (ALL, t.user_id):
            s = acc[(user, "tool", t.started_at[:10], f"{t.tool}{SEP}{t.server}")]
            s.counts["runs"] += 1
            if t.outcome in ("ok", "failed", "denied", "cancelled"):
                s.counts[t.outcome] += 1
            _latency(s, None, t.duration_ms)
    return acc


def _route(r: RunRow) -> str:
    return f"{r.agent}{SEP}{r.route_method}"


_COLS = ", ".join(_COUNTS)
_SELECT = f"SELECT {_COLS}, first_token_hist, duration_hist FROM run_rollup"
_UPSERT = (
    f"INSERT OR REPLACE INTO run_rollup (user_id, dim, day, key, {_COLS},"
    f" first_token_hist, duration_hist) VALUES ({', '.join('?' * (len(_COUNTS) + 6))})"
)


def _merged(col: str) -> str:
    """PostgreSQL: the stored histogram ``col`` plus the new row's, bucket by bucket."""
    return (
        f"{col} = (SELECT COALESCE(json_object_agg(b, n), '{{}}')::text FROM"
        f" (SELECT b, SUM(n::bigint) AS n FROM (SELECT * FROM json_each_text(run_rollup.{col}::json)"
        f" UNION ALL SELECT * FROM json_each_text(EXCLUDED.{col}::json)) AS h (b, n)"
        " GROUP BY b) AS t)"
    )


_ADD = (
    _UPSERT.replace("INSERT OR REPLACE", "INSERT")
    + " ON CONFLICT (user_id, dim, day, key) DO UPDATE SET "
    + ", ".join(f"{c} = run_rollup.{c} + EXCLUDED.{c}" for c in _COUNTS)
    + f", {_merged('first_token_hist')}, {_merged('duration_hist')}"
)


def apply(conn: DbConn, acc: dict[Key, Sums]) -> None:
    """Add ``acc`` to the stored rows (inside the caller's transaction).

    On PostgreSQL other replicas add to the same rows at once: each row is
    added to in one atomic upsert (its sums and histograms added up by the
    database), in key order so two writers never wait for each other in a circle.
    """
    if dialect_of(conn).name != "sqlite":
        conn.executemany(_ADD, [(*key, *to_row(acc[key])) for key in sorted(acc)])
        return
    for key, add in acc.items():
        row = conn.execute(
            f"{_SELECT} WHERE user_id = ? AND dim = ? AND day = ? AND key = ?", key
        ).fetchone()
        total = from_row(row) if row else Sums()
        total.add(add)
        conn.execute(_UPSERT, (*key, *to_row(total)))


def to_row(s: Sums) -> tuple[object, ...]:
    return (
        *(s.counts[k] for k in _COUNTS),
        json.dumps(s.first_token, separators=(",", ":")),
        json.dumps(s.duration, separators=(",", ":")),
    )


def from_row(row: tuple[object, ...]) -> Sums:
    n = len(_COUNTS)
    s = Sums(counts=dict(zip(_COUNTS, row[:n], strict=True)))  # type: ignore[arg-type]
    s.first_token = {int(b): c for b, c in json.loads(str(row[n])).items()}
    s.duration = {int(b): c for b, c in json.loads(str(row[n + 1])).items()}
    return s


def read(conn: DbConn, user_id: str, dim: str, day_from: str) -> dict[str, dict[str, Sums]]:
    """The rows of ``dim`` from ``day_from`` on: ``{key: {day: sums}}``."""
    out: dict[str, dict[str, Sums]] = defaultdict(dict)
    for row in conn.execute(
        f"SELECT key, day, {_COLS}, first_token_hist, duration_hist FROM run_rollup"
        " WHERE user_id = ? AND dim = ? AND day >= ?",
        (user_id, dim, day_from),
    ):
        out[str(row[0])][str(row[1])] = from_row(row[2:])
    return out
