"""Memory stats and a memory map for the chat app's fake runtime (fixed figures)."""

from __future__ import annotations

from muxi_cli.protocol.memstats import (
    ChainLink,
    MapCluster,
    MapPoint,
    MemoryMap,
    MemoryStats,
    RecallCount,
    RecentRecall,
)
from muxi_cli.protocol.records import MemoryItem


def fake_memory_stats(memories: list[MemoryItem]) -> MemoryStats:
    kinds: dict[str, int] = {}
    for m in memories:
        kinds[m.kind] = kinds.get(m.kind, 0) + 1
    first = memories[0] if memories else None
    return MemoryStats(
        user_id="local",
        current=len(memories),
        superseded=1,
        by_kind=kinds,
        by_age=[("today", len(memories)), ("older", 0)],
        decay_bins=[0, 0, 0, 0, 0, 0, len(memories), 0, 0, 0],
        decay_avg=0.65,
        chains=[
            [
                ChainLink("old1", "User lives in Berlin", "2026-01-02T00:00:00+00:00"),
                ChainLink("new1", "User moved to Lisbon", "2026-03-04T00:00:00+00:00"),
            ]
        ],
        chain_count=1,
        recalls=3,
        recall_turns=2,
        top_recalled=[RecallCount(first.id, 2, "2026-05-01T10:00:00+00:00", first.text, 0.8)]
        if first
        else [],
        recent_recalls=[
            RecentRecall("2026-05-01T10:00:00+00:00", "s-1", first.id, "assistant", 0.8, first.text)
        ]
        if first
        else [],
    )


def fake_memory_map(memories: list[MemoryItem]) -> MemoryMap:
    n = max(1, len(memories) - 1)
    points = [
        MapPoint(m.id, -1 + 2 * i / n, (-1) ** i * 0.5, i % 2, m.text)
        for i, m in enumerate(memories)
    ]
    clusters = [
        MapCluster(c, sum(p.cluster == c for p in points), memories[c].text, memories[c].id)
        for c in range(min(2, len(memories)))
    ]
    return MemoryMap(user_id="local", points=points, clusters=clusters, explained=[0.4, 0.2])
