"""The raw legs of a memory search, scored by :mod:`muxi_cli.memory.rank`.

A search of the ``memories`` table runs up to three queries at once (LanceDB
executes them natively, off the event loop), each under the user scope of
:meth:`MemoryRecords.scope` (the security rule of :mod:`muxi_cli.stores.lance_store`):

- ``questions``: nearest by ``qvector``, the embedding of the questions a fact
  answers, which is the fact's own vector when it has none; or ``vector``: nearest
  by the fact's embedding, when questions are off or the table predates them. One
  nearest-neighbour search, not both: each costs a scan of the user's vectors
  (about 9 ms at 100k memories), and on the dev set searching both found nothing
  more (the ranking scores every candidate against both vectors anyway);
- ``text``: BM25 full text (its prefilter uses indexed columns only; superseded rows
  are dropped after it when they are not wanted);
- ``dated``: rows whose ``dates`` tokens look like the query's span (``LIKE``
  patterns from :func:`muxi_cli.memory.rank.date_patterns`), a filtered read with
  no vector search.

What a search costs (docs/memory.md, "Performance"): a user's rows lie scattered
over the table, so each leg pays per row it reads and per column it takes of
its candidates. The prefilters therefore hold the user scope (an index lookup)
and nothing that must be read for every one of the user's rows: the embedding
model each candidate was made with is checked on the candidates instead (see
:func:`_same_model`), and only the columns ranking and its callers use are read.

Every leg reads the vectors as numpy arrays straight from Arrow (turning
hundreds of 384-float lists into Python floats would cost more than the search),
so the ranking computes an exact similarity for every candidate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from muxi_cli.stores import lance_sql as sql
from muxi_cli.stores.lance_records import MemoryRecords
from muxi_cli.stores.lance_schema import MEMORIES
from muxi_cli.stores.lance_store import Row

if TYPE_CHECKING:
    import numpy as np

#: The vector columns (read as numpy arrays).
VECTORS = ("vector", "qvector")
#: The plain columns a leg reads of its candidates: what :mod:`muxi_cli.memory.rank`,
#: recall and ``muxi memory search`` use. Not ``content_hash`` nor ``position``
#: (nothing after a search reads them): every column taken costs about 0.2 ms a
#: leg at 100k memories, the candidates being scattered over the table.
LEG_COLUMNS = (
    "id",
    "user_id",
    "kind",
    "text",
    "embedding_model",
    "created_at",
    "updated_at",
    "last_used_at",
    "use_count",
    "importance",
    "superseded_by",
    "source",
    "agent",
    "subject",
    "dates",
    "valid_from",
    "valid_until",
    "questions",
)
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
    scoped, where = records.search_filters(
        user_id, shared=shared, kind=kind, include_superseded=include_superseded
    )
    model = sql.eq("embedding_model", store.embedding_model)
    names = await store.column_names(MEMORIES)
    use_questions = questions and "qvector" in names
    # A table another process has not migrated yet may lack the newest columns.
    columns = [c for c in LEG_COLUMNS if c in names] + ["vector"]
    if use_questions:
        columns.append("qvector")
    table = store.table(MEMORIES)
    query_vector = vector.astype("float32")
    nearest_column = "qvector" if use_questions else "vector"

    def nearest(filter_: str) -> Any:
        return (
            table.query()
            .nearest_to(query_vector)
            .column(nearest_column)
            .distance_type("cosine")
            .where(filter_)
            .select(columns)
            .limit(candidates)
            .to_arrow()
        )

    likes = None
    if date_patterns and "dates" in names:
        likes = " OR ".join(f"dates LIKE {sql.sql_str(p)}" for p in date_patterns)

    def dated(filter_: str) -> Any:
        query = table.query().where(sql.and_(filter_, likes)).select(columns)
        return query.limit(DATE_CANDIDATES).to_arrow()

    # How to run a leg again with the model in its prefilter, should its
    # candidates include rows of another model (see _same_model).
    again: dict[str, Callable[[], Any]] = {}
    jobs: dict[str, Any] = {}
    leg = "questions" if use_questions else "vector"
    jobs[leg] = nearest(where)
    again[leg] = lambda: nearest(sql.and_(where, model))
    if text.strip():
        jobs["text"] = (
            table.query().nearest_to_text(text).where(scoped).select(columns).limit(candidates)
        ).to_arrow()
    if likes is not None:
        jobs["dated"] = dated(where)
        again["dated"] = lambda: dated(sql.and_(where, model))
    done = await asyncio.gather(*jobs.values(), return_exceptions=True)
    legs: dict[str, list[Row]] = {}
    for name, result in zip(jobs, done, strict=True):
        if isinstance(result, BaseException):
            if name == "text":  # a query the FTS parser cannot take leaves the others standing
                legs[name] = []
                continue
            raise result
        rows = _rows(result)
        if name in again and not _same_model(rows, store.embedding_model):
            rows = _rows(await again[name]())
        if name == "text" and not include_superseded:
            rows = [r for r in rows if r.get("superseded_by") is None]
        legs[name] = rows
    return legs


def _same_model(rows: list[Row], model: str) -> bool:
    """Whether every row's vectors come from ``model``.

    Vectors of two models are never compared. A store refuses vector work when
    its recorded model is not the configured one, every write stamps the store's
    model, and a reindex rewrites whole tables, so a row of another model is
    rare: a reindex that stopped between rewriting the tables and recording the
    new model, or two processes with different models opening an empty store at
    once. Reading every one of the user's rows' model before the nearest-neighbour
    search cost 0.3-0.5 ms at 100k memories; checking the candidates costs
    nothing measurable, and a leg with a foreign candidate runs again with the
    model in its prefilter, so the result is what that prefilter always gave.
    Rows with no model recorded (written before muxi stamped it) count as
    foreign, as the prefilter had them. The text leg never had the model in its
    prefilter (only indexed columns there) and still has not.
    """
    return all(r.get("embedding_model") == model for r in rows)


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
