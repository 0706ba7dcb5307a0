"""A memory written a second ago is found by both halves of the search, with the
full-text index built before it and no optimize since (LanceDB searches the rows
its indexes do not cover yet with a flat pass)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from muxi_cli.memory.service import MemoryService
from muxi_cli.stores.lance_records import MemoryRecords, Row
from muxi_cli.stores.lance_schema import MEMORIES

from .conftest import formation

MAIN = "u-main"
TOPICS = [
    "User prefers window seats on long flights",
    "User drinks oat milk in coffee",
    "User's daughter plays the violin",
    "User runs five kilometres on Sundays",
    "User works as a structural engineer",
    "User dislikes horror films",
    "User's car is a blue estate",
    "User reads crime novels before sleeping",
    "User grows tomatoes on the balcony",
    "User is learning Portuguese",
    "User's manager is called Dana",
    "User has a dentist appointment every spring",
]


def _rows(embedder: Any, users: list[str], texts: list[str]) -> list[Row]:
    vectors = embedder.embed_sync(texts)
    return [
        {"user_id": user, "kind": "fact", "text": f"{text} ({n})", "content_hash": f"{user}{n}",
         "vector": vectors[n % len(texts)].tolist()}
        for n, (user, text) in enumerate(
            (u, t) for u in users for t in texts
        )
    ]  # fmt: skip


async def _unindexed(records: MemoryRecords) -> int:
    table = records.store.table(MEMORIES)
    text_index = next(ix for ix in await table.list_indices() if ix.columns == ["text"])
    return int((await table.index_stats(text_index.name)).num_unindexed_rows)


async def _legs(svc: MemoryService, word: str, query: str) -> tuple[list[str], list[str]]:
    """The ids each leg finds, queried the way the store's hybrid search queries them."""
    records = await svc.records()
    table = records.store.table(MEMORIES)
    scope = records.scope(MAIN, shared=True)
    text = await table.query().nearest_to_text(word).where(scope).limit(10).to_list()
    vector = (await svc.embedder.embed([query]))[0]
    near = await (
        table.query()
        .nearest_to(vector)
        .column("vector")
        .distance_type("cosine")
        .where(scope)
        .limit(5)
        .to_list()
    )
    return [r["id"] for r in text], [r["id"] for r in near]


@pytest.fixture
async def big_store(tmp_path: Path, local_embedder: Any) -> AsyncIterator[MemoryService]:
    svc = MemoryService(formation(), None, base_dir=tmp_path, embedder=local_embedder)
    store = await svc.store()
    store.maintenance.every = 0  # no background optimize: nothing indexes the new rows
    records = await svc.records()
    others = [f"u-{i:02d}" for i in range(60)]
    await records.add(_rows(local_embedder, [MAIN, *others], TOPICS))  # 732 rows
    await store.optimize()
    assert await _unindexed(records) == 0
    yield svc
    await svc.aclose()


@pytest.mark.slow
async def test_a_fresh_memory_is_found_by_both_halves_without_optimize(
    big_store: MemoryService, local_embedder: Any
) -> None:
    svc = big_store
    records = await svc.records()
    kayak = await svc.add("User named the new kayak Quorvinth", MAIN)
    assert await _unindexed(records) == 1
    text_ids, vector_ids = await _legs(svc, "quorvinth", "what is my kayak called")
    assert text_ids == [kayak.id] and vector_ids[0] == kayak.id
    assert (await svc.search("Quorvinth kayak", MAIN))[0].id == kayak.id

    # A few hundred more unindexed rows, in many small commits (one fragment each).
    for start in range(0, 300, 10):
        users = [MAIN if n % 3 == 0 else f"u-{n % 60:02d}" for n in range(start, start + 10)]
        batch = _rows(local_embedder, users[:1], TOPICS[start % 12 : start % 12 + 1])
        for n, user in enumerate(users[1:], 1):
            batch.append({**batch[0], "user_id": user, "content_hash": f"late{start + n}"})
        batch[0]["content_hash"] = f"late{start}"
        await records.add(batch)
    parrot = await svc.add("User's neighbour has a parrot called Blorptang", MAIN)
    assert await _unindexed(records) >= 300
    text_ids, vector_ids = await _legs(svc, "blorptang", "the neighbour's parrot")
    assert text_ids == [parrot.id] and vector_ids[0] == parrot.id
    assert (await svc.search("Blorptang", MAIN))[0].id == parrot.id
    assert (await svc.search("what is the parrot next door called", MAIN))[0].id == parrot.id
    assert (await _legs(svc, "quorvinth", "my kayak's name"))[0] == [kayak.id]
    # Another user's rare word stays theirs, indexed or not.
    await svc.add("User's boat is called Zindrapel", "u-07")
    assert (await _legs(svc, "zindrapel", "boat name"))[0] == []
