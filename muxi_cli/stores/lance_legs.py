"""The raw legs of a memory search, scored by :mod:`muxi_cli.memory.rank`.

A search of the ``memories`` table runs up to three queries at once (LanceDB
executes them natively, off the event loop), each under the user scope of
:meth:`MemoryRecords.scope` (the security rule of :mod:`muxi_cli.stores.lance_store`):

- ``questions``: nearest by ``qvector``, the embedding of the questions a fact
  answers, which is the fact's own vector when it has none; or ``vector``: nearest
  by the fact's embedding, when questions are off or the table predates them. One
  nearest-neighbour search, not both: each costs a scan of the user's vectors
  (about 14 ms at 100k memories), and on the dev set searching both found nothing
  more (the ranking scores every candidate against both vectors anyway);
- ``text``: BM25 full text (its prefilter uses indexed columns only; superseded rows
  are dropped after it when they are not wanted);
- ``dated``: rows whose ``dates`` tokens look like the query's span (``LIKE``
  patterns from :func:`muxi_cli.memory.rank.date_patterns`), a filtered read with
  no vector search (about 4 ms).

Every leg selects the vectors, read as numpy arrays straight from Arrow (turning
hundreds of 384-float lists into Python floats would cost more than the search),
so the ranking computes an exact similarity for every candidate.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from muxi_cli.stores import lance_sql as sql
from muxi_cli.stores.lance_records import PLAIN_COLUMNS, MemoryRecords
from muxi_cli.stores.lance_schema import MEMORIES
from muxi_cli.stores.lance_store import Row

if TYPE_CHECKING:
    import numpy as np

#: The vector columns (read as numpy arrays).
VECTORS = ("vector", "qvector")
#: Candidates of the date leg.
DATE_CANDIDATES = 50


async def memory_legs(
    records: MemoryRecords,
    user_id: str,
    vector: np.ndarray,
    text: str,
    *,
    kind: str | None = None,
    shared: bool = True,
    candidates: int = 40,
    include_superseded: bool = False,
    questions: bool = True,
    date_patterns: list[str] | None = None,
) -> dict[str, list[Row]]:
    """``{leg: rows}`` of ``user_id``'s memories (plus shared ones with ``shared``)."""
    store = records.store
    store.require_vectors()
    scoped = sql.and_(records.scope(user_id, shared=shared), sql.eq("kind", kind) if kind else None)
    where = sql.and_(
        scoped,
        sql.eq("embedding_model", store.embedding_model),
        None if include_superseded else sql.is_null("superseded_by"),
    )
    names = await store.column_names(MEMORIES)
    use_questions = questions and "qvector" in names
    # A table another process has not migrated yet may lack the newest columns.
    columns = [c for c in PLAIN_COLUMNS if c in names] + ["vector"]
    if use_questions:
        columns.append("qvector")
    table = store.table(MEMORIES)
    query_vector = vector.astype("float32")

    def nearest(column: str, filter_: str, k: int) -> Any:
        return (
            table.query()
            .nearest_to(query_vector)
            .column(column)
            .distance_type("cosine")
            .where(filter_)
            .select(columns)
            .limit(k)
            .to_arrow()
        )

    jobs: dict[str, Any] = {}
    if use_questions:
        jobs["questions"] = nearest("qvector", where, candidates)
    else:
        jobs["vector"] = nearest("vector", where, candidates)
    if text.strip():
        jobs["text"] = (
            table.query().nearest_to_text(text).where(scoped).select(columns).limit(candidates)
        ).to_arrow()
    if date_patterns and "dates" in names:
        likes = " OR ".join(f"dates LIKE {sql.sql_str(p)}" for p in date_patterns)
        dated = table.query().where(sql.and_(where, likes)).select(columns)
        jobs["dated"] = dated.limit(DATE_CANDIDATES).to_arrow()
    done = await asyncio.gather(*jobs.values(), return_exceptions=True)
    legs: dict[str, list[Row]] = {}
    for leg, result in zip(jobs, done, strict=True):
        if isinstance(result, BaseException):
            if leg == "text":  # a query the FTS parser cannot take leaves the others standing
                legs[leg] = []
                continue
            raise result
        rows = _rows(result)
        if leg == "text" and not include_superseded:
            rows = [r for r in rows if r.get("superseded_by") is None]
        legs[leg] = rows
    return legs


def _rows(arrow: Any) -> list[Row]:
    """Rows of an Arrow table, the vector columns as float32 numpy arrays."""
    vectors: dict[str, Any] = {}
    for name in VECTORS:
        if name in arrow.column_names:
            column = arrow.column(name).combine_chunks()
            flat = column.values.to_numpy(zero_copy_only=False)
            matrix = flat.reshape(len(column), -1) if len(column) else flat
            nulls = column.is_null().to_pylist() if column.null_count else None
            vectors[name] = (matrix, nulls)
    plain = arrow.drop_columns(list(vectors)).to_pylist()
    for name, (matrix, nulls) in vectors.items():
        for i, row in enumerate(plain):
            row[name] = None if nulls is not None and nulls[i] else matrix[i]
    rows: list[Row] = plain
    return rows
