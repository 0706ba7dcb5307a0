"""Recall before a turn and the one search of stored memories behind it.

:func:`memory_hits` is the search that recall, ``muxi memory search`` and the
``memory_search`` tool share: the legs of :mod:`muxi_cli.stores.lance_legs`,
ranked by :mod:`muxi_cli.memory.rank`, a user entry winning over a shared one it
repeats. :func:`recall` adds the agent's knowledge chunks and shows a superseded
fact only right below the fact that replaced it.
"""

from __future__ import annotations

import builtins
import logging
from typing import TYPE_CHECKING, Any

from muxi_cli.config.schema import AgentConfig
from muxi_cli.errors import MemoryStoreError, MuxiError
from muxi_cli.memory import rank
from muxi_cli.memory.base import Recalled
from muxi_cli.memory.scoring import CONFLICT_SIMILARITY, is_noise, recall_score
from muxi_cli.stores.lance_legs import memory_legs
from muxi_cli.stores.lance_records import Row
from muxi_cli.stores.lance_schema import SHARED_USER

if TYPE_CHECKING:
    from muxi_cli.memory.service import MemoryService

log = logging.getLogger(__name__)

#: How recall shows a superseded fact (always right below the fact that replaced it).
PREVIOUSLY = "Previously (since replaced): "
#: Candidates per search leg (the ranking sees every leg's, merged).
CANDIDATES = 20


async def recall(
    svc: MemoryService, user_id: str, agent: AgentConfig, query: str
) -> list[Recalled]:
    if not agent.memory.enabled or not query.strip():
        return []
    if await svc.nothing_to_recall(user_id, agent):
        return []
    limit = max(1, agent.memory.recall_limit)
    vector = await svc.embed_query(query)
    at = svc.clock()
    kind = None if agent.memory.long_term else "knowledge"
    hits = await memory_hits(svc, user_id, vector, query, kind, limit * 3)
    scored: list[tuple[float, Recalled, Row | None]] = []
    for row in hits:
        source = "shared knowledge" if row["user_id"] == SHARED_USER else None
        if row["kind"] == "knowledge" and source is None:
            source = "your knowledge"
        text = row["text"]
        if row.get("superseded_by"):
            text = PREVIOUSLY + text
        recalled = Recalled(row["id"], row["kind"], text, row["_score"], source)
        scored.append((recalled.score, recalled, row))
    if agent.knowledge or await svc.has_added_knowledge(agent):
        await svc.ensure_knowledge(agent)
        chunk_rows = await (await svc.chunks()).search([agent.name], vector, query, limit=limit)
        for row in chunk_rows:
            if is_noise(row):
                continue
            cite = f"{row['source']}#{row['position']}" if row.get("position") else row["source"]
            score = recall_score(row, at)
            scored.append((score, Recalled(row["id"], "knowledge", row["text"], score, cite), None))
    scored.sort(key=lambda item: item[0], reverse=True)
    chosen = below_successors(scored)[:limit]
    used: dict[str, list[str]] = {}
    for _score, _recalled, hit in chosen:
        if hit is not None:
            used.setdefault(hit["user_id"], []).append(hit["id"])
    svc.usage.note(used)  # written in the background: the turn does not wait
    return [recalled for _score, recalled, _row in chosen]


async def memory_hits(
    svc: MemoryService, user_id: str, vector: Any, query: str, kind: str | None, limit: int
) -> builtins.list[Row]:
    """The one search of stored memories, for recall and ``muxi memory search``
    alike: the user's own plus the shared knowledge (``'*'``), ranked by
    :mod:`muxi_cli.memory.rank` (best first, ``_score`` set, noise dropped), and a
    user entry winning over a shared one it repeats or contradicts. With the
    ``current`` option superseded rows come too, each below its successor."""
    options = svc.ranking
    wanted = rank.prepare(query, vector, svc.clock(), options)
    records = await svc.records()
    try:
        legs = await memory_legs(
            records,
            user_id,
            vector,
            "" if options.fusion == "vector" else query,  # cosine only: no text leg
            kind=kind,
            shared=True,
            candidates=max(limit, CANDIDATES),
            include_superseded=options.current,
            questions=options.questions,
            date_patterns=rank.date_patterns(wanted.span) if wanted.span else None,
        )
    except MuxiError:
        raise
    except Exception as exc:
        # LanceDB reports a damaged table (a data file gone or truncated) as a bare
        # RuntimeError; as a store error it costs the turn its recall and the
        # memory_search tool a failed result, not the whole turn an internal error.
        # The details (file paths) go to the log, not to the model or a server's user.
        log.warning("memory search failed in %s: %s", svc.uri, exc)
        raise MemoryStoreError(
            "the memory store could not be searched (its files look damaged; "
            "the log has the details)",
            "restore it from a `muxi memory export`, or move it aside to start afresh",
        ) from exc
    hits = rank.rank(legs, wanted, options)
    return user_over_shared(hits, user_id)


def below_successors(
    scored: builtins.list[tuple[float, Recalled, Row | None]],
) -> builtins.list[tuple[float, Recalled, Row | None]]:
    """Recall shows a superseded fact only right after the fact that replaced it."""
    kept: builtins.list[tuple[float, Recalled, Row | None]] = []
    shown: set[str] = set()
    for item in scored:
        row = item[2]
        successor = row.get("superseded_by") if row is not None else None
        if successor is None or successor in shown:
            kept.append(item)
            shown.add(item[1].id)
    return kept


def user_over_shared(hits: list[Row], user_id: str) -> list[Row]:
    """Drop shared entries that a user entry contradicts or repeats (user wins)."""
    import numpy as np  # deferred: numpy is slow to import

    if user_id == SHARED_USER:  # searching the shared entries themselves: nothing to prefer
        return hits
    # Only the user's current entries: the hits hold replaced versions too (each below
    # its successor), and what the user no longer holds overrides nothing.
    own = [
        np.asarray(h["vector"], dtype=np.float32)
        for h in hits
        if h["user_id"] == user_id and not h.get("superseded_by")
    ]
    if not own:
        return hits
    kept = []
    for hit in hits:
        if hit["user_id"] == SHARED_USER:
            vector = np.asarray(hit["vector"], dtype=np.float32)
            if any(float(vector @ mine) >= CONFLICT_SIMILARITY for mine in own):
                continue
        kept.append(hit)
    return kept
