"""User-scoped access to the memory tables (built on :class:`LanceStore`).

Every method of :class:`MemoryRecords` takes the user id it acts for and puts
``user_id = '<escaped>'`` in front of every filter (shared knowledge is read with
``user_id IN ('<user>', '*')``). Only the ``*_all`` methods span users; they are
for the admin commands (export, reindex, prune, stats).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MemoryStoreError, NotFoundError
from muxi_cli.stores import lance_sql as sql
from muxi_cli.stores.lance_schema import CHUNKS, FACT_COLUMNS, MEMORIES, SHARED_USER
from muxi_cli.stores.lance_store import LanceStore, Row, now

if TYPE_CHECKING:
    import numpy as np

#: Columns read for listings of chunks (everything but the vector).
BASE_COLUMNS = [
    "id",
    "user_id",
    "kind",
    "text",
    "content_hash",
    "embedding_model",
    "created_at",
    "updated_at",
    "last_used_at",
    "use_count",
    "importance",
    "superseded_by",
    "source",
    "position",
    "agent",
]
#: Columns read for listings of memories (everything but the vectors).
PLAIN_COLUMNS = [*BASE_COLUMNS, *FACT_COLUMNS]
#: The vector columns of a memory (``qvector``: its questions' embedding).
VECTOR_COLUMNS = ["vector", "qvector"]


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def _active(row: Row) -> bool:
    return row.get("superseded_by") is None


def _user_filter(user_id: str) -> str:
    if not isinstance(user_id, str) or not user_id:
        raise MemoryStoreError("a memory query has no user id", "pass --user (or a user key)")
    return sql.eq("user_id", user_id)


class MemoryRecords:
    """The ``memories`` table, always scoped by user."""

    def __init__(self, store: LanceStore) -> None:
        self.store = store

    def scope(self, user_id: str, *, shared: bool = False) -> str:
        if shared and user_id != SHARED_USER:
            _user_filter(user_id)
            return sql.in_("user_id", [user_id, SHARED_USER])
        return _user_filter(user_id)

    def search_filters(
        self, user_id: str, *, shared: bool, kind: str | None, include_superseded: bool
    ) -> tuple[str, str]:
        """``(scoped, where)`` of a search: the user scope (and kind), and that plus
        current rows only unless ``include_superseded``. The full-text leg takes
        ``scoped`` (indexed columns only) and drops superseded rows afterwards."""
        scoped = sql.and_(
            self.scope(user_id, shared=shared), sql.eq("kind", kind) if kind else None
        )
        where = sql.and_(scoped, None if include_superseded else sql.is_null("superseded_by"))
        return scoped, where

    async def add(self, rows: Sequence[Row]) -> None:
        stamp = now()
        for row in rows:
            row.setdefault("id", new_id())
            row.setdefault("created_at", stamp)
            row.setdefault("updated_at", stamp)
            row.setdefault("last_used_at", row["updated_at"])
            row.setdefault("use_count", 0)
            row.setdefault("importance", 0.5)
            for key in ("superseded_by", "source", "position", "agent", *FACT_COLUMNS):
                row.setdefault(key, None)
        await self.store.add(MEMORIES, rows)

    async def get(self, user_id: str, memory_id: str, *, vector: bool = False) -> Row:
        """One memory of ``user_id`` by id or unique id prefix (6+ characters)."""
        columns = [*PLAIN_COLUMNS, *VECTOR_COLUMNS] if vector else PLAIN_COLUMNS
        scope = self.scope(user_id)
        rows = await self.store.rows(
            MEMORIES, sql.and_(scope, sql.eq("id", memory_id)), columns=columns, limit=1
        )
        if not rows and len(memory_id) >= 6:
            prefix = f"starts_with(id, {sql.sql_str(memory_id)})"
            rows = await self.store.rows(
                MEMORIES, sql.and_(scope, prefix), columns=columns, limit=2
            )
            if len(rows) > 1:
                raise NotFoundError(
                    f"memory id prefix {memory_id!r} is ambiguous",
                    "give more characters of the id (muxi memory list shows them)",
                )
        if not rows:
            raise NotFoundError(
                f"no memory {memory_id!r} for user {user_id!r}",
                "list the user's memories with `muxi memory list --user ID`",
            )
        return rows[0]

    async def by_hash(self, user_id: str, content_hash: str) -> Row | None:
        rows = await self.store.rows(
            MEMORIES,
            sql.and_(self.scope(user_id), sql.eq("content_hash", content_hash)),
            columns=PLAIN_COLUMNS,
            limit=1,
        )
        return rows[0] if rows else None

    async def listing(
        self,
        user_id: str,
        *,
        kind: str | None = None,
        agent: str | None = None,
        limit: int | None = 100,
        include_superseded: bool = False,
    ) -> list[Row]:
        where = sql.and_(
            self.scope(user_id),
            sql.eq("kind", kind) if kind else None,
            sql.eq("agent", agent) if agent else None,
            None if include_superseded else sql.is_null("superseded_by"),
        )
        rows = await self.store.rows(MEMORIES, where, columns=PLAIN_COLUMNS)
        rows.sort(key=lambda r: r.get("updated_at") or 0.0, reverse=True)
        return rows if limit is None else rows[:limit]

    async def search(
        self,
        user_id: str,
        vector: np.ndarray,
        text: str,
        *,
        kind: str | None = None,
        shared: bool = True,
        limit: int = 10,
        include_superseded: bool = False,
        vectors: bool = False,
    ) -> list[Row]:
        """Hybrid search of ``user_id``'s memories (plus shared ones with ``shared``).

        ``vectors`` adds each hit's ``vector`` (recall compares user and shared hits).
        """
        scoped, where = self.search_filters(
            user_id, shared=shared, kind=kind, include_superseded=include_superseded
        )
        return await self.store.hybrid(
            MEMORIES,
            where,
            vector,
            text,
            limit=limit,
            columns=[*PLAIN_COLUMNS, "vector"] if vectors else PLAIN_COLUMNS,
            # Indexed columns only for the text leg; superseded rows are dropped after it.
            text_where=scoped,
            text_keep=None if include_superseded else _active,
        )

    async def nearest(
        self, user_id: str, vector: np.ndarray, *, kind: str, limit: int = 8
    ) -> list[Row]:
        """``user_id``'s own current memories of ``kind`` closest to ``vector`` (cosine;
        each row carries ``_similarity``): the candidates a new fact may supersede.
        Vector only: a shared word is no reason to replace a fact."""
        self.store.require_vectors()
        where = sql.and_(
            self.scope(user_id),
            sql.eq("kind", kind),
            sql.is_null("superseded_by"),
            sql.eq("embedding_model", self.store.embedding_model),
        )
        query = (
            self.store.table(MEMORIES)
            .query()
            .nearest_to(vector.astype("float32"))
            .column("vector")
            .distance_type("cosine")
            .where(where)
            .select(PLAIN_COLUMNS)
            .limit(limit)
        )
        rows: list[Row] = await query.to_list()
        for row in rows:
            row["_similarity"] = 1.0 - float(row.pop("_distance", 1.0))
        return rows

    async def replaced_by(self, user_id: str, ids: Iterable[str]) -> list[Row]:
        """``user_id``'s memories superseded by one of ``ids`` (what those replaced)."""
        ids = list(ids)
        if not ids:
            return []
        where = sql.and_(self.scope(user_id), sql.in_("superseded_by", ids))
        return await self.store.rows(MEMORIES, where, columns=PLAIN_COLUMNS)

    async def touch(self, user_id: str, ids: Iterable[str], *, times: int = 1) -> None:
        """Record ``times`` recalls: bump ``use_count`` and ``last_used_at``."""
        ids = list(ids)
        if not ids:
            return
        await self.store.update(
            MEMORIES,
            sql.and_(self.scope(user_id), sql.in_("id", ids)),
            {"use_count": f"use_count + {int(times)}", "last_used_at": repr(float(now()))},
        )

    async def update(self, user_id: str, memory_id: str, **values: Any) -> None:
        """Set plain values (numbers and strings are escaped) on one memory."""
        values_sql: dict[str, str] = {}
        for key, value in values.items():
            if value is None:
                values_sql[key] = "NULL"
            elif isinstance(value, bool) or not isinstance(value, int | float | str):
                raise TypeError(f"cannot store {type(value).__name__} in {key}")
            elif isinstance(value, str):
                values_sql[key] = sql.sql_str(value)
            else:
                values_sql[key] = repr(value)
        await self.store.update(
            MEMORIES, sql.and_(self.scope(user_id), sql.eq("id", memory_id)), values_sql
        )

    async def delete(self, user_id: str, ids: Iterable[str]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        return await self.store.delete(MEMORIES, sql.and_(self.scope(user_id), sql.in_("id", ids)))

    async def delete_user(self, user_id: str) -> int:
        """Erase every memory of ``user_id`` (and their session state is theirs to drop)."""
        return await self.store.delete(MEMORIES, self.scope(user_id))

    async def count(self, user_id: str, *, include_superseded: bool = True) -> int:
        where = sql.and_(
            self.scope(user_id), None if include_superseded else sql.is_null("superseded_by")
        )
        return await self.store.count(MEMORIES, where)

    # -- admin: all users --------------------------------------------------------------

    async def scan_all(self, *, vector: bool = False, user_id: str | None = None) -> list[Row]:
        """Every memory (of every user unless ``user_id`` is given), for admin commands."""
        columns = [*PLAIN_COLUMNS, *VECTOR_COLUMNS] if vector else PLAIN_COLUMNS
        where = self.scope(user_id) if user_id is not None else "TRUE"
        return await self.store.rows(MEMORIES, where, columns=columns)

    async def delete_ids_all(self, ids: Iterable[str]) -> int:
        """Delete by id across users (prune)."""
        ids = list(ids)
        total = 0
        for start in range(0, len(ids), 500):
            total += await self.store.delete(MEMORIES, sql.in_("id", ids[start : start + 500]))
        return total


class ChunkRecords:
    """The ``chunks`` table: agent knowledge, scoped by agent."""

    def __init__(self, store: LanceStore) -> None:
        self.store = store

    async def sources(self, agent: str) -> dict[str, str]:
        """``{source path: file hash}`` of what is ingested for ``agent``."""
        rows = await self.store.rows(
            CHUNKS, sql.eq("agent", agent), columns=["source", "file_hash"]
        )
        return {str(r["source"]): str(r["file_hash"] or "") for r in rows}

    async def counts(self, agent: str | None = None) -> dict[tuple[str, str], int]:
        where = sql.eq("agent", agent) if agent else "TRUE"
        rows = await self.store.rows(CHUNKS, where, columns=["agent", "source"])
        out: dict[tuple[str, str], int] = {}
        for r in rows:
            key = (str(r["agent"]), str(r["source"]))
            out[key] = out.get(key, 0) + 1
        return out

    async def replace_source(self, agent: str, source: str, rows: list[Row]) -> None:
        await self.delete_source(agent, source)
        stamp = now()
        for row in rows:
            row.setdefault("id", new_id())
            row.update(agent=agent, source=source, user_id=SHARED_USER, kind="chunk")
            row.setdefault("created_at", stamp)
            row.setdefault("updated_at", stamp)
            row.setdefault("last_used_at", stamp)
            row.setdefault("use_count", 0)
            row.setdefault("importance", 0.5)
            row.setdefault("superseded_by", None)
        await self.store.add(CHUNKS, rows)

    async def delete_source(self, agent: str, source: str) -> int:
        return await self.store.delete(
            CHUNKS, sql.and_(sql.eq("agent", agent), sql.eq("source", source))
        )

    async def search(
        self, agents: list[str], vector: np.ndarray, text: str, *, limit: int = 5
    ) -> list[Row]:
        columns = [c for c in BASE_COLUMNS if c != "superseded_by"]
        return await self.store.hybrid(
            CHUNKS, sql.in_("agent", agents), vector, text, limit=limit, columns=columns
        )
