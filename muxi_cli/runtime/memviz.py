"""``LocalRuntime.memory_stats`` and ``memory_map``: computed where the memories are.

The stats read the user's rows from the memory store (memory/figures.py) and
their recalls from the sessions database (stores/run_recalls.py, in a thread:
SQLite blocks); the map reads the rows with their vectors and projects them
(memory/mapping.py, numpy: the memory part brings it). The server answers
``GET /v1/memory/stats|map`` with these, so a remote client needs neither.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.protocol.memstats import MemoryMap, MemoryStats
from muxi_cli.stores.lance_schema import SHARED_USER

if TYPE_CHECKING:
    from muxi_cli.memory.service import MemoryService
    from muxi_cli.runtime.local import LocalRuntime
    from muxi_cli.stores.run_recalls import RecallFigures


def _service(rt: LocalRuntime) -> MemoryService:
    # The management API behind _memory_on is the MemoryService (or refuses first).
    return cast("MemoryService", rt._memory_on())


async def memory_stats(rt: LocalRuntime, user_id: str | None = None) -> MemoryStats:
    from muxi_cli.memory.figures import memory_stats as figures  # deferred: memory code

    uid = user_id or rt.user_id
    svc = _service(rt)
    records = await svc.records()
    rows = await records.scan_all(user_id=uid)
    stats = figures(uid, rows, svc.clock())
    recalled = await asyncio.to_thread(_recalls, rt, uid)
    stats.recalls, stats.recall_turns = recalled.recalls, recalled.turns
    texts = {str(r["id"]): str(r["text"]) for r in rows}
    wanted = {r.memory_id for r in recalled.top} | {r.memory_id for r in recalled.recent}
    for memory_id in sorted(wanted - texts.keys()):
        try:  # shared knowledge is recalled too; it is every user's to see
            texts[memory_id] = str((await records.get(SHARED_USER, memory_id))["text"])
        except NotFoundError:
            pass  # forgotten since, or a chunk of an agent's knowledge file
    for top in recalled.top:
        top.text = texts.get(top.memory_id, "")
    for recent in recalled.recent:
        recent.text = texts.get(recent.memory_id, "")
    stats.top_recalled, stats.recent_recalls = recalled.top, recalled.recent
    return stats


def _recalls(rt: LocalRuntime, user_id: str) -> RecallFigures:
    from muxi_cli.stores.run_recalls import recall_figures  # deferred: memory stats only
    from muxi_cli.stores.runs import connect  # deferred: as above

    rt.runs.writer.flush()  # what this process recorded is in the answer
    conn = connect(rt.runs.path)
    try:
        return recall_figures(conn, user_id)
    finally:
        conn.close()


async def memory_map(
    rt: LocalRuntime, user_id: str | None = None, clusters: int | None = None
) -> MemoryMap:
    from muxi_cli.memory.mapping import MAX_CLUSTERS  # deferred: imports numpy
    from muxi_cli.memory.mapping import memory_map as project  # deferred: as above

    if clusters is not None and not 1 <= clusters <= MAX_CLUSTERS:
        raise UsageError(
            f"--clusters must be between 1 and {MAX_CLUSTERS}, not {clusters}",
            "leave it out to let muxi choose from the number of memories",
        )
    uid = user_id or rt.user_id
    svc = _service(rt)
    store = await svc.store()
    rows: list[dict[str, Any]] = await (await svc.records()).scan_all(vector=True, user_id=uid)
    current = [r for r in rows if not r.get("superseded_by")]
    # Vectors of another model (before a reindex) would mix two spaces: leave them out.
    model = store.embedding_model
    same = [r for r in current if (r.get("embedding_model") or model) == model]
    return await asyncio.to_thread(project, uid, same, clusters, model)
