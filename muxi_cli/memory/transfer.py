"""Export/import of memories as JSONL, and re-embedding (``reindex``).

An export is one JSON object per line: a header line
(``{"muxi_memory_export": 1, "embedding_model": ..., "dims": ..., "count": ...}``)
then one line per memory with every column, the vector included and the model
that made it; ``qvector`` (the questions' vector) only for a memory with questions
(``null`` otherwise: it equals ``vector``). Importing puts rows back with the same
ids, timestamps, counters and ``superseded_by`` links; a row whose vector came from
another model (or has none) is re-embedded with the store's model, its questions
too, so vectors are never mixed. An export written before schema version 2 (no
subject, dates or questions) imports with subject and dates read from the text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from muxi_cli.errors import UsageError
from muxi_cli.memory import facts
from muxi_cli.memory.embeddings import Embedder
from muxi_cli.memory.scoring import content_hash
from muxi_cli.stores.lance_records import PLAIN_COLUMNS, MemoryRecords, Row
from muxi_cli.stores.lance_schema import CHUNKS, MEMORIES
from muxi_cli.stores.lance_store import LanceStore

EXPORT_VERSION = 1
#: Every column but the vector, in export order.
FIELDS = tuple(PLAIN_COLUMNS)

Progress = Callable[[int, int], None]


def export_lines(rows: list[Row], embedding_model: str, dims: int) -> Iterator[str]:
    header = {
        "muxi_memory_export": EXPORT_VERSION,
        "embedding_model": embedding_model,
        "dims": dims,
        "count": len(rows),
    }
    yield json.dumps(header)
    for row in sorted(rows, key=lambda r: (r["user_id"], float(r.get("created_at") or 0), r["id"])):
        item: dict[str, Any] = {key: row.get(key) for key in FIELDS}
        vector = row.get("vector")
        item["vector"] = [float(x) for x in vector] if vector is not None else None
        qvector = row.get("qvector") if row.get("questions") else None
        item["qvector"] = [float(x) for x in qvector] if qvector is not None else None
        yield json.dumps(item, ensure_ascii=False)


def read_lines(stream: IO[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise UsageError(
                f"line {number} of the import is not JSON: {exc}",
                "import a file written by `muxi memory export`",
            ) from exc
        if not isinstance(value, dict):
            raise UsageError(
                f"line {number} of the import is not a JSON object",
                "import a file written by `muxi memory export`",
            )
        if "muxi_memory_export" in value:
            if int(value["muxi_memory_export"]) > EXPORT_VERSION:
                raise UsageError(
                    "this export was written by a newer muxi",
                    "upgrade muxi (pip install -U muxi-cli) to import it",
                )
            continue
        yield value


def _clean(item: dict[str, Any], number: int) -> Row:
    for key in ("id", "user_id", "text"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise UsageError(
                f"memory {number} of the import has no {key}",
                "every line needs id, user_id and text, as `muxi memory export` writes them",
            )
    row: Row = {key: item.get(key) for key in FIELDS}
    row["kind"] = row.get("kind") or "fact"
    row["content_hash"] = row.get("content_hash") or content_hash(row["text"])
    for key in ("created_at", "updated_at", "last_used_at"):
        row[key] = float(row.get(key) or 0.0)
    row["use_count"] = int(row.get("use_count") or 0)
    row["importance"] = float(row["importance"] if row.get("importance") is not None else 0.5)
    for key in ("valid_from", "valid_until"):
        value = row.get(key)
        row[key] = float(value) if isinstance(value, int | float) and value else None
    for key in ("subject", "dates"):
        if not isinstance(row.get(key), str):
            row[key] = None  # an older export: read from the text by annotate
    row["questions"] = facts.clean_questions(row.get("questions") or [])
    row["vector"] = item.get("vector")
    row["qvector"] = item.get("qvector")
    facts.annotate(row)  # no said_at: an exported row keeps its own created_at
    if row["questions"] and not isinstance(item.get("qvector"), list):
        row["qvector"] = None  # annotate stood the text's vector in: embed the questions
    return row


async def import_rows(
    store: LanceStore,
    embedder: Embedder,
    items: Iterable[dict[str, Any]],
    *,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Upsert exported rows by id; re-embed rows from another model."""
    store.require_vectors()
    rows = [_clean(item, n) for n, item in enumerate(items, start=1)]

    def usable(row: Row, key: str) -> bool:
        value = row.get(key)
        same_model = row.get("embedding_model") == store.embedding_model
        return same_model and isinstance(value, list) and len(value) == store.dims

    stale = [r for r in rows if not usable(r, "vector")]
    # (row, column, text) to embed: stale texts, and questions whose vector is unusable.
    jobs = [(r, "vector", r["text"]) for r in stale]
    jobs += [
        (r, "qvector", r["questions"])
        for r in rows
        if r.get("questions") and (r in stale or not usable(r, "qvector"))
    ]
    for start in range(0, len(jobs), 64):
        batch = jobs[start : start + 64]
        vectors = await embedder.embed([text for _row, _key, text in batch])
        for (row, key, _text), vector in zip(batch, vectors, strict=True):
            row[key] = vector.tolist()
        if progress:
            progress(min(start + 64, len(jobs)), len(jobs))
    for row in rows:
        row["embedding_model"] = store.embedding_model
        if not row.get("questions"):
            row["qvector"] = row["vector"]  # no questions: the text's own vector
    for start in range(0, len(rows), 1000):
        await store.merge(MEMORIES, "id", rows[start : start + 1000])
    return {"imported": len(rows), "reembedded": len(stale)}


async def export_memories(
    records: MemoryRecords, stream: IO[str], *, user_id: str | None = None
) -> int:
    rows = await records.scan_all(vector=True, user_id=user_id)
    for line in export_lines(rows, records.store.embedding_model, records.store.dims):
        stream.write(line + "\n")
    return len(rows)


async def reindex(
    store: LanceStore, embedder: Embedder, *, progress: Progress | None = None
) -> dict[str, int]:
    """Re-embed every memory and knowledge chunk with ``embedder`` (one commit per table)."""
    import pyarrow as pa  # deferred: pyarrow is slow to import

    counts: dict[str, int] = {}
    tables: dict[str, list[Row]] = {}
    jobs: dict[str, list[tuple[Row, str, str]]] = {}
    for name in (MEMORIES, CHUNKS):
        rows = (await store.table(name).query().to_arrow()).to_pylist()
        tables[name] = rows
        # (row, column, text): every text, and every memory's questions (qvector).
        jobs[name] = [(row, "vector", str(row["text"])) for row in rows]
        jobs[name] += [(r, "qvector", str(r["questions"])) for r in rows if r.get("questions")]
    total = sum(len(j) for j in jobs.values())
    done = 0
    for name, rows in tables.items():
        for start in range(0, len(jobs[name]), 64):
            batch = jobs[name][start : start + 64]
            vectors = await embedder.embed([text for _row, _key, text in batch])
            for (row, key, _text), vector in zip(batch, vectors, strict=True):
                row[key] = vector.tolist()
            done += len(batch)
            if progress:
                progress(done, total)
        for row in rows:
            row["embedding_model"] = embedder.name
            if name == MEMORIES and not row.get("questions"):
                row["qvector"] = row["vector"]
        await store.replace_table(name, pa.Table.from_pylist(rows) if rows else None, embedder.dims)
        counts[name] = len(rows)
    await store.adopt_model(embedder.name, embedder.dims)
    return counts
