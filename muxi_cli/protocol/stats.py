"""What ``muxi stats`` answers: totals and breakdowns of the recorded runs.

The local runtime computes a :class:`StatsReport` from the run records
(stores/run_stats.py); ``GET /v1/stats`` sends its :meth:`~StatsReport.to_dict`
and the remote runtime reads it back with :meth:`~StatsReport.from_dict`, so
every surface shows the same figures.

Counting rules: a *turn* is a top-level run (one user message); a *run* is a
turn's or a delegate's. Tokens and cost are summed over every run (a
delegate's calls are its own run's, never its parent's: the usage rule of
protocol/reduce.py). Latencies are milliseconds to two significant digits
(nearest-rank percentiles of per-day histograms); ``None`` when no run measured
them. A turn's latency is the top-level run's; by agent or model, every run of
that agent or model counts, delegates included. ``since`` counts whole UTC days.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

#: What ``--by`` may group by.
STATS_BY = ("agent", "model", "user", "tool", "day")


@dataclass
class StatsGroup:
    """The figures of every run whose ``by`` value is ``key`` (``key`` "" = all)."""

    key: str = ""
    turns: int = 0
    runs: int = 0
    #: Distinct users (``None`` by agent or model: not kept per agent or model).
    users: int | None = 0
    failed: int = 0
    cancelled: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    first_token_p50_ms: int | None = None
    first_token_p95_ms: int | None = None
    duration_p50_ms: int | None = None
    duration_p95_ms: int | None = None


@dataclass
class ToolStats:
    """Calls of one tool: outcomes (ok, failed, denied, cancelled) and latency."""

    tool: str
    server: str = ""
    calls: int = 0
    ok: int = 0
    failed: int = 0
    denied: int = 0
    cancelled: int = 0
    duration_p50_ms: int | None = None
    duration_p95_ms: int | None = None

    @property
    def failure_rate(self) -> float:
        return self.failed / self.calls if self.calls else 0.0

    @property
    def denial_rate(self) -> float:
        return self.denied / self.calls if self.calls else 0.0


@dataclass
class RouteStats:
    """Turns routed to ``agent`` by ``method`` (``cached``: from the route cache)."""

    agent: str
    method: str = ""
    turns: int = 0
    cached: int = 0
    fallbacks: int = 0


@dataclass
class StatsReport:
    """The answer to one stats query."""

    #: The query: the first UTC day counted (or None: all), grouping, user scope.
    since: str | None = None
    by: str = "agent"
    user_id: str | None = None
    totals: StatsGroup = field(default_factory=StatsGroup)
    groups: list[StatsGroup] = field(default_factory=list)
    tools: list[ToolStats] = field(default_factory=list)
    routing: list[RouteStats] = field(default_factory=list)
    #: Turns that had a routing decision; of them from the cache; router fallbacks.
    routed: int = 0
    route_cache_hits: int = 0
    router_fallbacks: int = 0
    #: Memories recalled over all turns, turns that recalled any, mean top score.
    recalls: int = 0
    recall_turns: int = 0
    recall_top_score_avg: float | None = None
    #: Turns per day (``YYYY-MM-DD``, oldest first): the sparkline's data.
    daily: list[tuple[str, int]] = field(default_factory=list)

    @property
    def route_cache_hit_rate(self) -> float:
        return self.route_cache_hits / self.routed if self.routed else 0.0

    @property
    def recalls_per_turn(self) -> float:
        return self.recalls / self.totals.turns if self.totals.turns else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["daily"] = [[d, n] for d, n in self.daily]
        out["route_cache_hit_rate"] = round(self.route_cache_hit_rate, 4)
        out["recalls_per_turn"] = round(self.recalls_per_turn, 4)
        for tool, row in zip(self.tools, out["tools"], strict=True):
            row["failure_rate"] = round(tool.failure_rate, 4)
            row["denial_rate"] = round(tool.denial_rate, 4)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatsReport:
        return cls(
            since=data.get("since"),
            by=str(data.get("by") or "agent"),
            user_id=data.get("user_id"),
            totals=_make(StatsGroup, data.get("totals") or {}),
            groups=[_make(StatsGroup, g) for g in data.get("groups") or []],
            tools=[_make(ToolStats, t) for t in data.get("tools") or []],
            routing=[_make(RouteStats, r) for r in data.get("routing") or []],
            routed=int(data.get("routed") or 0),
            route_cache_hits=int(data.get("route_cache_hits") or 0),
            router_fallbacks=int(data.get("router_fallbacks") or 0),
            recalls=int(data.get("recalls") or 0),
            recall_turns=int(data.get("recall_turns") or 0),
            recall_top_score_avg=data.get("recall_top_score_avg"),
            daily=[(str(d), int(n)) for d, n in data.get("daily") or []],
        )


_AGO = re.compile(r"^(\d+)([dw])$")


def parse_since(text: str | None, today: date | None = None) -> str | None:
    """``7d``, ``2w`` (days ago, today counting as day 0) or a date (``2026-12-01``)
    as the first UTC day (``YYYY-MM-DD``) to count; ``ValueError`` otherwise.
    Stats count whole UTC days (they are kept per day)."""
    if not text:
        return None
    text = text.strip()
    ago = _AGO.match(text)
    if ago:
        days = int(ago[1]) * (7 if ago[2] == "w" else 1)
        return ((today or datetime.now(UTC).date()) - timedelta(days=days)).isoformat()
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise ValueError(f"not a day: {text!r} (use e.g. 7d, 2w or 2026-12-01)") from None


def _make(cls: Any, data: dict[str, Any]) -> Any:
    # Fields a newer peer added are ignored, missing ones take their defaults.
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
