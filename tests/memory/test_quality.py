"""Retrieval quality on a labelled set: recall@5 through the real store (hybrid search)."""

from __future__ import annotations

import json
from pathlib import Path

from muxi_cli.memory.embeddings import LocalEmbedder
from muxi_cli.memory.service import MemoryService

from .conftest import FIXTURES, formation

#: Measured 1.0 with the local MiniLM (vector-only cosine: 0.95); fail well before noise.
THRESHOLD = 0.85


def labelled() -> dict:
    return json.loads((FIXTURES / "labelled.json").read_text(encoding="utf-8"))


async def recall_at_5(svc: MemoryService, user: str = "quality") -> float:
    data = labelled()
    records = await svc.records()
    vectors = await svc.embedder.embed(data["memories"])
    ids = []
    rows = []
    for text, vector in zip(data["memories"], vectors, strict=True):
        row = {"user_id": user, "kind": "fact", "text": text, "content_hash": text,
               "vector": vector.tolist()}  # fmt: skip
        rows.append(row)
    await records.add(rows)
    ids = [r["id"] for r in rows]
    hits = 0
    for query in data["queries"]:
        found = await svc.search(query["query"], user, limit=5)
        hits += ids[query["expected"]] in [f.id for f in found]
    return hits / len(data["queries"])


async def test_recall_at_5_local(tmp_path: Path, local_embedder: LocalEmbedder) -> None:
    svc = MemoryService(formation(), None, embedder=local_embedder)
    score = await recall_at_5(svc)
    assert score >= THRESHOLD, f"recall@5 = {score:.2f}"
    await svc.aclose()


def test_labelled_set_shape() -> None:
    data = labelled()
    assert len(data["memories"]) == 60 and len(data["queries"]) == 20
    assert all(0 <= q["expected"] < 60 for q in data["queries"])
