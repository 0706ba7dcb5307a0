"""Several searches of one user's memory, merged into one list.

The ``memory_search`` tool (:mod:`muxi_cli.core.memory_tool`) lets the model ask
in its own words, several ways at once: "diet", "food allergies", "restaurants
the user liked". Each query goes through the same recall as the automatic one
before a turn (:meth:`MemoryHooks.recall`: the user's own memories, the shared
knowledge, the agent's knowledge, scoped by user in the store layer), and the
answers are merged here: one entry per memory with its best score, the same text
given once, and each query's best hit kept so one broad query cannot crowd out
the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from muxi_cli.config.schema import AgentConfig
from muxi_cli.memory.base import MemoryHooks, Recalled
from muxi_cli.memory.scoring import normalise_text

#: Queries one call may make, and memories it may return.
MAX_QUERIES = 5
MAX_LIMIT = 20


async def search_many(
    memory: MemoryHooks, user_id: str, agent: AgentConfig, queries: Sequence[str], limit: int
) -> list[Recalled]:
    """Recall for each query, merged. The queries run at once: each one's embedding
    (a worker thread) and search (LanceDB's own threads) overlap the others'."""
    limit = max(1, min(limit, MAX_LIMIT))
    # Each query may return as many as the whole answer holds, not only recall_limit.
    wide = agent.model_copy(
        update={"memory": agent.memory.model_copy(update={"recall_limit": limit})}
    )
    asked = [q for q in queries[:MAX_QUERIES] if q.strip()]
    results = await asyncio.gather(*(memory.recall(user_id, wide, q) for q in asked))
    return merge(results, limit)


def merge(results: Sequence[Sequence[Recalled]], limit: int) -> list[Recalled]:
    """One list, best first: each memory once with its best score, a text repeated
    under another id dropped, and every query's own best hit kept within ``limit``."""
    best: dict[str, Recalled] = {}
    for hits in results:
        for hit in hits:
            held = best.get(hit.id)
            if held is None or hit.score > held.score:
                best[hit.id] = hit
    ranked = sorted(best.values(), key=lambda r: (-r.score, r.id))
    unique: list[Recalled] = []
    seen: set[str] = set()
    for hit in ranked:
        key = normalise_text(hit.text)
        if key not in seen:
            seen.add(key)
            unique.append(hit)
    kept_ids = {r.id for r in unique}
    # Every query's top hit first (by score), then the rest by score.
    firsts: list[str] = []
    for hits in results:
        top = next((h for h in hits if h.id in kept_ids), None)
        if top is not None and top.id not in firsts:
            firsts.append(top.id)
    chosen = set(firsts[:limit])
    for hit in unique:
        if len(chosen) >= limit:
            break
        chosen.add(hit.id)
    return [hit for hit in unique if hit.id in chosen]
