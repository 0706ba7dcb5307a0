"""What ``muxi memory stats`` and ``muxi memory map`` answer about one user's memories.

The figures are computed where the memories are (this process, or the server:
runtime/memviz.py); ``GET /v1/memory/stats`` and ``GET /v1/memory/map`` send
:meth:`to_dict`, the remote runtime reads it back with :meth:`from_dict`, so a
client without numpy or LanceDB shows the same picture. Standard library only.

Dates are ISO 8601 in UTC. Decay scores are memory/scoring.py ``decay_score``
(0..1: recent, important, often used) at the time of the answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: The age buckets of :attr:`MemoryStats.by_age` (days since the memory was written).
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("today", 1),
    ("this week", 7),
    ("this month", 30),
    ("3 months", 91),
    ("this year", 365),
    ("older", float("inf")),
)
#: The decay-score histogram has this many bins over 0..1 (bin i: i/N up to (i+1)/N).
DECAY_BINS = 10


@dataclass
class ChainLink:
    """One version of a fact in a supersession chain."""

    id: str
    text: str
    created_at: str = ""


@dataclass
class RecallCount:
    """How often one memory was recalled before a turn, and when last."""

    memory_id: str
    count: int
    last_at: str = ""
    #: The memory's text, "" when it is no longer in the store (forgotten, or a
    #: chunk of an agent's knowledge file, which is not a user memory).
    text: str = ""
    avg_score: float | None = None


@dataclass
class RecentRecall:
    """One recall: when, in which session, by which agent, which memory, its score."""

    at: str
    session_id: str
    memory_id: str
    agent: str = ""
    score: float | None = None
    text: str = ""


@dataclass
class MemoryStats:
    """Counts, ages, decay scores, replaced facts and recalls of one user's memories."""

    user_id: str
    #: Current memories (not replaced by a newer one), and the replaced ones kept.
    current: int = 0
    superseded: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    #: Current memories per :data:`AGE_BUCKETS` label, in that order.
    by_age: list[tuple[str, int]] = field(default_factory=list)
    #: Current memories per decay-score bin (:data:`DECAY_BINS` counts, lowest first).
    decay_bins: list[int] = field(default_factory=list)
    decay_avg: float | None = None
    #: Facts that replaced others: each chain oldest to newest (the last is current).
    chains: list[list[ChainLink]] = field(default_factory=list)
    #: Chains there are in all (``chains`` holds the newest few).
    chain_count: int = 0
    #: Recalls recorded for this user (one per memory per turn) and turns that recalled.
    recalls: int = 0
    recall_turns: int = 0
    top_recalled: list[RecallCount] = field(default_factory=list)
    recent_recalls: list[RecentRecall] = field(default_factory=list)
    #: When the figures were computed.
    at: str = ""

    @property
    def total(self) -> int:
        return self.current + self.superseded

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["by_age"] = [[label, n] for label, n in self.by_age]
        out["total"] = self.total
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryStats:
        top = [_make(RecallCount, r) for r in data.get("top_recalled") or []]
        for r in top:  # numbers as numbers: the text formats them with :.2f and >4
            r.count, r.avg_score = int(r.count), _number(r.avg_score)
        recent = [_make(RecentRecall, r) for r in data.get("recent_recalls") or []]
        for rec in recent:
            rec.score = _number(rec.score)
        return cls(
            user_id=str(data.get("user_id") or ""),
            current=int(data.get("current") or 0),
            superseded=int(data.get("superseded") or 0),
            by_kind={str(k): int(v) for k, v in (data.get("by_kind") or {}).items()},
            by_age=[(str(label), int(n)) for label, n in data.get("by_age") or []],
            decay_bins=[int(n) for n in data.get("decay_bins") or []],
            decay_avg=_number(data.get("decay_avg")),
            chains=[
                [_make(ChainLink, link) for link in chain] for chain in data.get("chains") or []
            ],
            chain_count=int(data.get("chain_count") or 0),
            recalls=int(data.get("recalls") or 0),
            recall_turns=int(data.get("recall_turns") or 0),
            top_recalled=top,
            recent_recalls=recent,
            at=str(data.get("at") or ""),
        )


@dataclass
class MapPoint:
    """One memory on the map: its place (both axes scaled to -1..1) and cluster."""

    id: str
    x: float
    y: float
    cluster: int
    text: str
    kind: str = "fact"
    created_at: str = ""


@dataclass
class MapCluster:
    """A group of nearby memories, named by its most typical one (nearest its centre)."""

    index: int
    size: int
    label: str
    label_id: str = ""


@dataclass
class MemoryMap:
    """A 2-D picture of one user's current memories: a projection of their embeddings
    on the two directions they vary most (PCA), grouped by k-means."""

    user_id: str
    points: list[MapPoint] = field(default_factory=list)
    clusters: list[MapCluster] = field(default_factory=list)
    #: The share of the embeddings' variance each axis shows (0..1).
    explained: list[float] = field(default_factory=list)
    embedding_model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryMap:
        # Numbers as numbers (int() and float() refuse anything else): the drawings
        # put them into SVG unescaped, and an SVG file has no content security policy.
        points = [_make(MapPoint, p) for p in data.get("points") or []]
        for p in points:
            p.x, p.y, p.cluster = float(p.x), float(p.y), int(p.cluster)
        clusters = [_make(MapCluster, c) for c in data.get("clusters") or []]
        for c in clusters:
            c.index, c.size = int(c.index), int(c.size)
        return cls(
            user_id=str(data.get("user_id") or ""),
            points=points,
            clusters=clusters,
            explained=[float(v) for v in data.get("explained") or []],
            embedding_model=str(data.get("embedding_model") or ""),
        )


def cluster_letter(index: int) -> str:
    """The letter a cluster is drawn with (A, B, ...; the map has at most 26)."""
    return chr(ord("A") + index % 26)


def _number(value: Any) -> float | None:
    """``value`` as a float (``None`` stays ``None``; text that is no number raises)."""
    return None if value is None else float(value)


def _make(cls: Any, data: dict[str, Any]) -> Any:
    # Fields a newer peer added are ignored, missing ones take their defaults.
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
