"""Memory store benchmarks: batched adds, per-user hybrid search, recall@5, cold open.

Bulk rows use random unit vectors (embedding 100k texts would measure the
embedder, not the store); the labelled retrieval set uses real embeddings.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Result, percentile

USERS = 100
BATCH = 1000
QUERIES = 200
WORDS = [
    "tea",
    "coffee",
    "jazz",
    "piano",
    "hiking",
    "lisbon",
    "berlin",
    "python",
    "rust",
    "garden",
    "bicycle",
    "marathon",
    "cat",
    "dog",
    "sister",
    "brother",
    "doctor",
    "nurse",
    "engineer",
    "teacher",
    "kayak",
    "chess",
    "novel",
    "poetry",
    "cinema",
    "museum",
    "allergy",
    "peanut",
    "vegan",
    "metric",
    "imperial",
    "train",
    "flight",
    "winter",
    "summer",
    "sunrise",
    "laptop",
    "linux",
]
LABELLED = ROOT / "tests" / "memory" / "data" / "labelled.json"


def bulk_rows(n: int, dims: int, model: str, seed: int = 7) -> list[dict[str, Any]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dims)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pick = random.Random(seed)
    now = time.time()
    rows = []
    for i in range(n):
        text = "User " + " ".join(pick.choices(WORDS, k=8)) + f" #{i}"
        rows.append(
            {
                "user_id": f"user{i % USERS:03d}",
                "kind": "fact",
                "text": text,
                "content_hash": f"h{i}",
                "vector": vectors[i].tolist(),
                "created_at": now - pick.random() * 86400 * 90,
            }
        )
    return rows


async def _bulk(n: int, folder: Path) -> list[Result]:
    import numpy as np

    from muxi_cli.stores.lance_records import MemoryRecords
    from muxi_cli.stores.lance_store import LanceStore

    dims, model = 384, "bench/random-unit-vectors"
    label = f"{n // 1000}k"
    uri = str(folder / f"store-{label}")
    store = await LanceStore(uri, embedding_model=model, dims=dims, optimize_every=0).open()
    records = MemoryRecords(store)
    from muxi_cli.memory.facts import annotate

    rows = bulk_rows(n, dims, model)
    for row in rows:  # subject and dates, as every row written since schema version 2 has
        annotate(row, said_at=row["created_at"])
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        await records.add(rows[start : start + BATCH])
    add_s = time.perf_counter() - started
    await store.optimize()  # compaction and index refresh, as the periodic maintenance does
    from muxi_cli.stores.lance_cluster import maybe_cluster

    await maybe_cluster(store)  # and, past 5,000 rows of several users, sorting them by user
    samples = await _search_ms(records, dims)
    ranked = await _search_ms(records, dims, ranked=True)
    dated = await _search_ms(records, dims, ranked=True, query="plans next month")
    await store.close()
    # The same queries on a connection that skips the check for other processes'
    # writes (LanceDB's default): what reading the latest version costs.
    unchecked = await LanceStore(
        uri, embedding_model=model, dims=dims, read_consistency=None
    ).open()
    unchecked_samples = await _search_ms(MemoryRecords(unchecked), dims)
    await unchecked.close()

    # Cold open: a fresh store object on the same folder, timed up to its first query's answer.
    t0 = time.perf_counter()
    cold = await LanceStore(uri, embedding_model=model, dims=dims).open()
    vector = np.ones(dims, dtype="float32") / np.sqrt(dims)
    await MemoryRecords(cold).search("user042", vector, "tea jazz", shared=False, limit=10)
    cold_ms = (time.perf_counter() - t0) * 1000
    await cold.close()
    note = f"{USERS} users, random unit vectors, batches of {BATCH}"
    return [
        Result(f"memory add ({label})", round(n / add_s), "rows/s", note=note),
        Result(
            f"memory hybrid search p50 ({label})",
            round(statistics.median(samples), 1),
            "ms",
            target="< 20 ms" if n >= 100_000 else None,
            note="per-user prefilter (BITMAP on user_id) + FTS, RRF fused, top 10",
        ),
        Result(f"memory hybrid search p95 ({label})", round(percentile(samples, 95), 1), "ms"),
        Result(
            f"memory ranked search p50 ({label})",
            round(statistics.median(ranked), 1),
            "ms",
            target="< 20 ms" if n >= 100_000 else None,
            note="what recall and `muxi memory search` run: the legs at once, then "
            "muxi_cli.memory.rank (every option on), top 10 of 30 per leg",
        ),
        Result(f"memory ranked search p95 ({label})", round(percentile(ranked, 95), 1), "ms"),
        Result(
            f"memory ranked search p50 ({label}), a date in the query",
            round(statistics.median(dated), 1),
            "ms",
            note="'next month' adds the date leg when the table has a dates column",
        ),
        Result(
            f"memory hybrid search p50 ({label}), no consistency check",
            round(statistics.median(unchecked_samples), 1),
            "ms",
            note="without checking for other processes' writes before each read",
        ),
        Result(
            f"memory cold open to first query ({label})",
            round(cold_ms, 1),
            "ms",
            note="lancedb already imported (import adds ~1.6 s)",
        ),
    ]


async def _search_ms(
    records: Any, dims: int, *, ranked: bool = False, query: str | None = None
) -> list[float]:
    """Milliseconds of ``QUERIES`` per-user searches (same queries every call): the
    store's RRF hybrid search, or with ``ranked`` the memory service's search
    (:func:`memory_legs` then :func:`muxi_cli.memory.rank.rank`)."""
    import numpy as np

    from muxi_cli.memory import rank
    from muxi_cli.stores.lance_legs import memory_legs

    options = rank.RankOptions()

    rng = np.random.default_rng(11)
    pick = random.Random(11)
    samples = []
    for _ in range(QUERIES):
        vector = rng.standard_normal(dims).astype("float32")
        vector /= np.linalg.norm(vector)
        user = f"user{pick.randrange(USERS):03d}"
        text = query or " ".join(pick.choices(WORDS, k=2))
        t0 = time.perf_counter()
        if ranked:
            wanted = rank.prepare(text, vector, time.time(), options)
            legs = await memory_legs(
                records, user, vector, text, shared=False, candidates=30,
                include_superseded=True,
                date_patterns=rank.date_patterns(wanted.span) if wanted.span else None,
            )  # fmt: skip
            hits = rank.rank(legs, wanted, options)[:10]
        else:
            hits = await records.search(user, vector, text, shared=False, limit=10)
        samples.append((time.perf_counter() - t0) * 1000)
        assert all(h["user_id"] == user for h in hits)
    return samples


async def _recall_at_5(embedder: Any, folder: Path) -> float:
    from muxi_cli.config.schema import Formation
    from muxi_cli.memory.service import MemoryService

    data = json.loads(LABELLED.read_text(encoding="utf-8"))
    formation = Formation.model_validate(
        {"memory": {"uri": str(folder / embedder.name.replace("/", "_"))}}
    )
    service = MemoryService(formation, None, embedder=embedder)
    vectors = await embedder.embed(data["memories"])
    rows = [
        {"user_id": "bench", "kind": "fact", "text": t, "content_hash": t, "vector": v.tolist()}
        for t, v in zip(data["memories"], vectors, strict=True)
    ]
    await (await service.records()).add(rows)
    hits = 0
    for query in data["queries"]:
        found = await service.search(query["query"], "bench", limit=5)
        hits += rows[query["expected"]]["id"] in [f.id for f in found]
    await service.aclose()
    return hits / len(data["queries"])


async def _quality(folder: Path) -> list[Result]:
    from muxi_cli.memory.embeddings import HashEmbedder, LocalEmbedder

    results = []
    t0 = time.perf_counter()
    local = LocalEmbedder()
    local.embed_sync(["load"])
    load_ms = (time.perf_counter() - t0) * 1000
    sentences = [f"User sentence number {i} about tea and jazz" for i in range(200)]
    t0 = time.perf_counter()
    local.embed_sync(sentences)
    per_s = len(sentences) / (time.perf_counter() - t0)
    results.append(Result("local embedder load (ONNX, sha256 check)", round(load_ms), "ms"))
    results.append(Result("local embedder throughput (batched)", round(per_s), "sentences/s"))
    for embedder in (local, HashEmbedder()):
        score = await _recall_at_5(embedder, folder)
        results.append(
            Result(
                f"recall@5 labelled set ({embedder.name})",
                round(score, 2),
                "",
                target=">= 0.85" if embedder is local else None,
                note="60 memories, 20 queries, hybrid search through the store",
            )
        )
    results.append(
        Result(
            "recall@5 labelled set (openai/*)",
            "skipped",
            "",
            note="needs network and an API key",
        )
    )
    return results


def run(quick: bool) -> list[Result]:
    os.environ.setdefault("LANCEDB_LOG", "error")
    folder = Path(tempfile.mkdtemp(prefix="muxi-bench-memory-"))
    try:
        results: list[Result] = []
        for n in (10_000,) if quick else (10_000, 100_000):
            results.extend(asyncio.run(_bulk(n, folder)))
        results.extend(asyncio.run(_quality(folder)))
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)
