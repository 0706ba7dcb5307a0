"""Several processes writing to one store lose no rows."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
from pathlib import Path

from muxi_cli.memory.embeddings import HashEmbedder
from muxi_cli.stores.lance_records import MemoryRecords
from muxi_cli.stores.lance_store import LanceStore

PROCESSES = 4
ADDS = 50


def _writer(uri: str, worker: int, start: mp.synchronize.Event) -> None:
    os.environ["LANCEDB_LOG"] = "error"

    async def main() -> None:
        embedder = HashEmbedder()
        # A low optimize_every makes compaction race with the other writers too.
        store = await LanceStore(
            uri, embedding_model=embedder.name, dims=384, optimize_every=20
        ).open()
        records = MemoryRecords(store)
        start.wait(30)
        for i in range(ADDS):
            text = f"worker {worker} fact {i}"
            await records.add([{"user_id": f"user{worker % 2}", "kind": "fact", "text": text,
                                "content_hash": text,
                                "vector": embedder.embed_sync([text])[0].tolist()}])  # fmt: skip
        await store.close()

    asyncio.run(main())


async def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    uri = str(tmp_path / "shared-store")
    embedder = HashEmbedder()
    # Create the tables first, as a running muxi would have.
    await (await LanceStore(uri, embedding_model=embedder.name, dims=384).open()).close()
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(uri, w, start)) for w in range(PROCESSES)]
    try:
        for p in procs:
            p.start()
        start.set()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0] * PROCESSES
    finally:  # none of them outlives the test, whatever failed
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(10)
    store = await LanceStore(uri, embedding_model=embedder.name, dims=384).open()
    records = MemoryRecords(store)
    rows = await records.scan_all()
    assert len(rows) == PROCESSES * ADDS
    assert len({r["id"] for r in rows}) == PROCESSES * ADDS
    assert await records.count("user0") == 2 * ADDS
    await store.close()
