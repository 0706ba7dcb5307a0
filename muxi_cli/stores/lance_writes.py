"""Every write of the LanceDB store, and the memory catalog kept right by each one.

A mixin of :class:`~muxi_cli.stores.lance_store.LanceStore` (which holds the
connection and the reads): each write runs under the table's lock of this process
and of every process (:meth:`MemoryCatalog.locked`), and updates the catalog's
counts and the table's fingerprint in the same step. A write whose effect on the
counts is unknown (an upsert, a replaced table), or that finds the catalog stale,
recounts the table instead (:mod:`muxi_cli.stores.memory_catalog`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from muxi_cli.errors import MemoryStoreError
from muxi_cli.stores.lance_maintenance import Maintenance, with_retry
from muxi_cli.stores.lance_schema import CHUNKS, MEMORIES, META, STATE
from muxi_cli.stores.memory_catalog import TRACKED, Changes, Counts, MemoryCatalog

Row = dict[str, Any]

#: The columns the catalog counts rows by, per table.
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {MEMORIES: ("user_id", "kind"), CHUNKS: ("agent",)}


class LanceWrites:
    """The write half of :class:`~muxi_cli.stores.lance_store.LanceStore`."""

    catalog: MemoryCatalog
    embedding_model: str
    maintenance: Maintenance
    _db: Any
    _locks: dict[str, asyncio.Lock]

    def table(self, name: str) -> Any:
        raise NotImplementedError

    def require_vectors(self) -> None:
        raise NotImplementedError

    async def rows(
        self,
        table_name: str,
        where: str,
        *,
        limit: int | None = None,
        columns: list[str] | None = None,
    ) -> list[Row]:
        raise NotImplementedError

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # ------------------------------------------------------------------ the catalog

    async def _migrate_session_state(self) -> None:
        """Move the session states of a store written before they lived in the catalog."""
        table = await self._db.open_table(STATE)
        rows = await table.query().to_list()
        self.catalog.import_states(rows)
        await self._db.drop_table(STATE)

    async def sync_catalog(self) -> None:
        """Recount the tables whose catalog entry is stale (another program wrote them)."""
        for name in TRACKED:
            async with self._writing(name) as held:
                if held and not self.catalog.is_current(name):
                    await self._recount(name)

    async def _recount(self, name: str) -> None:
        # Its catalog lock is held. The fingerprint is taken first: a commit landing
        # during the count makes the result stale.
        fingerprint = self.catalog.fingerprint(name)
        table = self.table(name)
        if name == META:
            rows = await table.query().to_list()
            meta = {str(r["key"]): str(r["value"]) for r in rows}
            self.catalog.replace(name, fingerprint, meta=meta)
            return
        columns = GROUP_COLUMNS[name]
        data = await table.query().select(list(columns)).to_arrow()
        counts: Counts = {}
        if len(data):
            grouped = data.group_by(list(columns)).aggregate([([], "count_all")])
            owners = grouped.column(columns[0]).to_pylist()
            kinds = grouped.column(columns[1]).to_pylist() if len(columns) > 1 else None
            for i, n in enumerate(grouped.column("count_all").to_pylist()):
                counts[(str(owners[i]), str(kinds[i]) if kinds else "")] = int(n)
        self.catalog.replace(name, fingerprint, counts=counts)

    @contextlib.asynccontextmanager
    async def _writing(self, name: str) -> AsyncIterator[bool]:
        """This process's writer lock of ``name``, then every process's (the catalog's).

        Yields whether the catalog lock is held; a writer that could not get it
        leaves the table's catalog entry stale *before* it writes.
        """
        async with self._lock(name), self.catalog.locked(name) as held:
            if not held and name in TRACKED:
                self.catalog.invalidate(name)
            yield held

    async def _commit(
        self, name: str, write: Callable[[], Awaitable[Any]], delta: Changes | None
    ) -> None:
        """Run one write of ``name`` and bring the catalog along: ``delta`` is what it
        changes (row counts, or meta values; None: unknown, recount). A catalog that
        was stale before the write is recounted."""
        async with self._writing(name) as held:
            tracked = held and name in TRACKED
            before = self.catalog.fingerprint(name) if tracked else None
            current = tracked and self.catalog.is_current(name)
            await with_retry(write)
            if not tracked:
                return
            after = self.catalog.fingerprint(name)
            if current and delta is not None and self.catalog.apply(name, delta, before, after):
                return
            await self._recount(name)

    # ------------------------------------------------------------------ meta

    async def meta(self) -> dict[str, str]:
        rows = await self.table(META).query().to_list()
        return {str(r["key"]): str(r["value"]) for r in rows}

    async def set_meta(self, **values: str) -> None:
        table = self.table(META)
        data = [{"key": k, "value": v} for k, v in values.items()]

        async def write() -> Any:
            builder = table.merge_insert("key").when_matched_update_all()
            return await builder.when_not_matched_insert_all().execute(data)

        await self._commit(META, write, dict(values))
        self._wrote(len(data))

    # ------------------------------------------------------------------ writes

    async def add(self, table_name: str, rows: Sequence[Row]) -> None:
        """Append rows (each must carry a non-empty ``user_id`` and a vector of our model)."""
        if not rows:
            return
        self.require_vectors()
        for row in rows:
            if not isinstance(row.get("user_id"), str) or not row["user_id"]:
                raise MemoryStoreError(
                    "a memory row has no user id", "this is a bug in muxi; please report it"
                )
            row["embedding_model"] = self.embedding_model
            if table_name == MEMORIES and row.get("qvector") is None:
                # Every memory is found by the question leg: no questions, the text's vector.
                row["qvector"] = row.get("vector")
        table = self.table(table_name)
        data = list(rows)
        await self._commit(table_name, lambda: table.add(data), _delta(table_name, data, 1))
        self._wrote(len(rows))

    async def update(self, table_name: str, where: str, values_sql: dict[str, str]) -> None:
        """Set columns of the matching rows (never an owner or kind: counts stay)."""
        if set(values_sql) & {"user_id", "kind", "agent"}:
            raise MemoryStoreError(
                "a memory's owner, kind or agent cannot change", "this is a bug in muxi"
            )
        table = self.table(table_name)
        await self._commit(
            table_name, lambda: table.update(updates_sql=values_sql, where=where), {}
        )
        self._wrote(1)

    async def delete(self, table_name: str, where: str) -> int:
        table = self.table(table_name)
        columns = GROUP_COLUMNS.get(table_name)
        if columns is None:
            count = int(await table.count_rows(where))
            delta: Counts | None = None
        else:
            doomed = await self.rows(table_name, where, columns=list(columns))
            count, delta = len(doomed), _delta(table_name, doomed, -1)
        if count:
            await self._commit(table_name, lambda: table.delete(where), delta)
            self._wrote(count)
        return count

    async def merge(self, table_name: str, key: str, rows: Sequence[Row]) -> None:
        """Insert ``rows``, replacing the rows with the same ``key``."""
        table = self.table(table_name)
        data = list(rows)

        async def write() -> Any:
            builder = table.merge_insert(key).when_matched_update_all()
            return await builder.when_not_matched_insert_all().execute(data)

        # An upsert's count change is unknown without reading: the catalog recounts.
        await self._commit(table_name, write, None)
        self._wrote(len(data))

    def _wrote(self, count: int) -> None:
        # Compaction runs off the writer's path: no turn waits for it.
        self.maintenance.wrote(count)


def _index_job(table: Any, column: str, config: Any) -> Callable[[], Awaitable[Any]]:
    async def job() -> Any:
        return await table.create_index(column, config=config, replace=False)

    return job


def _delta(table: str, rows: Sequence[Row], sign: int) -> Counts | None:
    """The row counts that adding (``sign`` 1) or deleting (-1) ``rows`` changes."""
    columns = GROUP_COLUMNS.get(table)
    if columns is None:
        return None
    delta: Counts = {}
    for row in rows:
        key = (str(row.get(columns[0])), str(row.get(columns[1])) if len(columns) > 1 else "")
        delta[key] = delta.get(key, 0) + sign
    return delta
