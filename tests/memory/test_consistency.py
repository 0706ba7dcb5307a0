"""Two connections to one store (as two processes have) see each other's writes at once,
and background maintenance keeps up with a steady stream of writes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from muxi_cli.memory.embeddings import HashEmbedder
from muxi_cli.stores.lance_records import ChunkRecords, MemoryRecords
from muxi_cli.stores.lance_schema import MEMORIES
from muxi_cli.stores.lance_store import LanceStore
from muxi_cli.stores.memory_catalog import SessionState

EMBEDDER = HashEmbedder()


def _row(user: str, text: str) -> dict[str, object]:
    return {"user_id": user, "kind": "fact", "text": text, "content_hash": text,
            "vector": EMBEDDER.embed_sync([text])[0].tolist()}  # fmt: skip


async def _open(uri: str, **kw: int) -> LanceStore:
    return await LanceStore(uri, embedding_model=EMBEDDER.name, dims=384, **kw).open()


async def test_every_table_shows_the_other_connections_writes(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    writer, reader = await _open(uri), await _open(uri)
    try:
        mine, theirs = MemoryRecords(writer), MemoryRecords(reader)
        vector = EMBEDDER.embed_sync(["tea"])[0]
        # The reader has read every table once, so its handles are open and warm.
        assert await theirs.listing("u") == []
        assert await reader.meta() != {}
        assert await SessionState(reader.catalog).get("s1") is None
        assert await ChunkRecords(reader).search(["a"], vector, "tea") == []

        await mine.add([_row("u", "User likes tea")])
        await writer.set_meta(**{"long_term_off:u": "1"})
        await SessionState(writer.catalog).put("s1", user_id="u", summary="talked about tea")
        await ChunkRecords(writer).replace_source("a", "notes.md", [_row("*", "Tea is a drink")])

        assert [r["text"] for r in await theirs.listing("u")] == ["User likes tea"]
        assert [r["text"] for r in await theirs.search("u", vector, "tea", shared=False)] == [
            "User likes tea"
        ]
        assert (await reader.meta())["long_term_off:u"] == "1"
        state = await SessionState(reader.catalog).get("s1")
        assert state is not None and state["summary"] == "talked about tea"
        assert len(await ChunkRecords(reader).search(["a"], vector, "tea")) == 1

        # An erasure by one is gone from the other's next read.
        assert await mine.delete_user("u") == 1
        assert await SessionState(writer.catalog).delete_user("u") == 1
        assert await theirs.listing("u") == []
        assert await theirs.search("u", vector, "tea", shared=False) == []
        assert await theirs.count("u") == 0
        assert await SessionState(reader.catalog).get("s1") is None
    finally:
        await writer.close()
        await reader.close()


async def test_maintenance_lands_while_writes_keep_coming(tmp_path: Path) -> None:
    store = await _open(str(tmp_path / "store"), optimize_every=10)
    try:
        records = MemoryRecords(store)
        await records.add([_row("u", f"User fact {i}") for i in range(20)])
        ids = [r["id"] for r in await records.listing("u", limit=None)]

        async def touches() -> None:
            for i in range(60):
                await records.touch("u", [ids[i % len(ids)]])

        async def adds() -> None:
            for i in range(30):
                await records.add([_row("u", f"User added fact {i}")])

        # Two writers at once, as a turn's recall and a background extraction are.
        await asyncio.gather(touches(), adds())
        await store.maintenance.wait()
        assert store.maintenance.runs >= 3
        assert store.maintenance.failures == 0
        stats = await store.table(MEMORIES).stats()
        # Single-row writes make one fragment each; compaction folded them.
        assert stats["fragment_stats"]["num_fragments"] < 30
        assert await records.count("u") == 50
    finally:
        await store.close()


WRITER = r"""
import asyncio, sys
from muxi_cli.config.schema import Formation
from muxi_cli.memory.service import MemoryService

async def main(uri: str, action: str) -> None:
    svc = MemoryService(Formation.model_validate({"memory": {"embedding": "hash", "uri": uri}}), None)
    try:
        if action == "add":
            await svc.add("User likes green tea", "u")
        else:
            await svc.forget_user("u")
    finally:
        await svc.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_long_lived_process_sees_another_process_writes(tmp_path: Path) -> None:
    """A warm host keeps its store open for hours while `muxi memory` commands write it."""
    import subprocess
    import sys

    from muxi_cli.config.schema import AgentConfig, Formation
    from muxi_cli.memory.service import MemoryService

    uri = str(tmp_path / "store")
    form = Formation.model_validate({"memory": {"embedding": "hash", "uri": uri}})
    warm = MemoryService(form, None)
    agent = AgentConfig(name="assistant")

    async def other(action: str) -> None:
        # In a thread: this process's loop keeps running (a warm host serves meanwhile).
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", WRITER, uri, action],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]

    try:
        await warm.add("User likes coffee", "someone-else")  # the store is open and warm
        assert await warm.recall("u", agent, "tea") == []
        await other("add")
        # The catalog says so without a recount, and the open store reads the new row.
        known = warm.catalog.snapshot()
        assert known is not None and known.memory_count("u") == 1
        recalled = await warm.recall("u", agent, "what tea do I like?")
        assert [r.text for r in recalled] == ["User likes green tea"]
        assert [i.text for i in await warm.list("u")] == ["User likes green tea"]
        await other("forget")
        assert await warm.recall("u", agent, "what tea do I like?") == []
        assert await warm.list("u") == []
    finally:
        await warm.aclose()
