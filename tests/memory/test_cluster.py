"""Sorting the memories table by user (stores/lance_cluster.py): nothing lost, still searchable."""

from __future__ import annotations

from pathlib import Path

import pytest

from muxi_cli.memory.embeddings import HashEmbedder
from muxi_cli.stores import lance_cluster
from muxi_cli.stores.lance_records import MemoryRecords
from muxi_cli.stores.lance_schema import MEMORIES
from muxi_cli.stores.lance_store import LanceStore

USERS = ("ann", "bob", "cy")


async def _store(path: Path) -> tuple[LanceStore, MemoryRecords, HashEmbedder]:
    embedder = HashEmbedder()
    store = await LanceStore(str(path), embedding_model=embedder.name, dims=384).open()
    return store, MemoryRecords(store), embedder


async def _fill(records: MemoryRecords, embedder: HashEmbedder, count: int) -> None:
    rows = []
    for i in range(count):  # interleaved users, as a shared server writes them
        text = f"User fact {i} about topic {i % 7}"
        rows.append({"user_id": USERS[i % 3], "kind": "fact", "text": text,
                     "content_hash": text, "vector": embedder.embed_sync([text])[0].tolist()})  # fmt: skip
    await records.add(rows)


async def test_sorting_keeps_every_row_and_the_search_works(tmp_path: Path) -> None:
    store, records, embedder = await _store(tmp_path / "s")
    await _fill(records, embedder, 60)
    await records.update("bob", (await records.listing("bob", limit=1))[0]["id"], importance=0.9)
    before = sorted(
        (await store.table(MEMORIES).query().to_arrow()).to_pylist(), key=lambda r: r["id"]
    )
    assert await lance_cluster.cluster(store)
    after_rows = (await store.table(MEMORIES).query().to_arrow()).to_pylist()
    assert [r["user_id"] for r in after_rows] == sorted(r["user_id"] for r in after_rows)
    assert sorted(after_rows, key=lambda r: r["id"]) == before  # every column of every row
    names = {tuple(ix.columns) for ix in await store.table(MEMORIES).list_indices()}
    assert {("user_id",), ("text",)} <= names  # indexes built again
    vector = embedder.embed_sync(["User fact 4 about topic 4"])[0]
    hits = await records.search("bob", vector, "topic", shared=False, limit=5)
    assert hits and all(h["user_id"] == "bob" for h in hits)
    assert store.catalog.snapshot() is not None
    assert store.catalog.snapshot().memory_count("ann") == 20  # type: ignore[union-attr]
    await store.close()


async def test_the_maintenance_sorts_only_when_it_pays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lance_cluster, "MIN_ROWS", 30)
    store, records, embedder = await _store(tmp_path / "s")
    await _fill(records, embedder, 20)
    assert not await lance_cluster.maybe_cluster(store)  # too few rows
    await _fill(records, embedder, 40)
    assert await lance_cluster.maybe_cluster(store)
    assert not await lance_cluster.maybe_cluster(store)  # sorted, nothing new since
    await _fill(records, embedder, 20)
    assert await lance_cluster.maybe_cluster(store)  # grew by a fifth and more
    await store.close()


def test_one_user_or_a_small_store_is_never_sorted() -> None:
    assert not lance_cluster.worth_it(100_000, 1, 0)
    assert not lance_cluster.worth_it(1_000, 5, 0)
    assert lance_cluster.worth_it(100_000, 5, 0)
    assert not lance_cluster.worth_it(100_000, 5, 90_000)
    assert not lance_cluster.worth_it(lance_cluster.MAX_ROWS + 1, 5, 0)  # too big to hold
