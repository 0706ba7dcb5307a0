"""The one LanceDB store layer: every memory and knowledge read or write goes through here.

Security rule: every memory query is scoped by user id *here*, with filters built
by :mod:`muxi_cli.stores.lance_sql` from escaped values. Methods that read or change
memories take the ``user_id`` they act for; the few admin operations that span all
users (export, reindex, prune, stats) say so in their names (``*_all``).

Vectors of different embedding models are never mixed: the model is recorded in
``meta`` and in every row; a store opened with another model refuses vector work
with a :class:`~muxi_cli.errors.MemoryStoreError` that points to ``muxi memory reindex``.

Several processes share one store (``muxi serve`` and the ``muxi memory`` commands,
say, or replicas of ``muxi serve`` on one bucket: :mod:`muxi_cli.stores.lance_uri`),
so every read sees the latest committed version: the connection checks for
newer versions before each read (``read_consistency_interval`` of zero). A
``muxi memory forget`` in one process is gone from the others' next search.
Maintenance runs in the background (:mod:`muxi_cli.stores.lance_maintenance`).

The writes live in :mod:`muxi_cli.stores.lance_writes`: each one also keeps the
memory catalog right (:mod:`muxi_cli.stores.memory_catalog`), which lets a turn
know what the store holds without importing LanceDB. LanceDB itself is imported
through :mod:`muxi_cli.stores.lance_import` only.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MemoryStoreError
from muxi_cli.paths import ensure_dir
from muxi_cli.stores import lance_import, lance_uri
from muxi_cli.stores import lance_sql as sql
from muxi_cli.stores.lance_fusion import fuse_rrf
from muxi_cli.stores.lance_maintenance import Maintenance, session
from muxi_cli.stores.lance_schema import (
    CHUNKS,
    COLUMN_DEFAULTS,
    MEMORIES,
    META,
    SCHEMA_VERSION,
    STATE,
    missing_columns,
    schema_for,
    vector_dims,
)
from muxi_cli.stores.lance_writes import LanceWrites, _index_job
from muxi_cli.stores.memory_catalog import MemoryCatalog, is_local_uri

if TYPE_CHECKING:
    import numpy as np

Row = dict[str, Any]

#: Run ``optimize()`` (compaction, index refresh, old version cleanup) after this many writes.
OPTIMIZE_EVERY = 50
#: Versions older than this are dropped by the periodic maintenance. Readers in other
#: processes check out the latest version before each read, so a minute is ample.
KEEP_VERSIONS_FOR = timedelta(minutes=1)
#: Seconds after opening a store whose indexes lag behind before it is optimised
#: (see Maintenance.later): longer than a one-shot command lives.
CATCH_UP_AFTER = 5.0
#: How often reads check for versions written by other processes (zero: before every read).
READ_CONSISTENCY = timedelta(0)
VECTOR_TABLES = (MEMORIES, CHUNKS)


class LanceStore(LanceWrites):
    """An open LanceDB database holding muxi's memory tables."""

    def __init__(
        self,
        uri: str,
        *,
        embedding_model: str,
        dims: int,
        optimize_every: int = OPTIMIZE_EVERY,
        read_consistency: timedelta | None = READ_CONSISTENCY,
        catalog: MemoryCatalog | None = None,
    ) -> None:
        if is_local_uri(uri):
            path = Path(uri).expanduser()
            if not path.is_absolute():
                path = path.resolve()
            uri = str(path)
        self.uri = uri
        #: What the tables hold, kept right by every write here (see memory_catalog).
        self.catalog = catalog or MemoryCatalog(uri)
        self.embedding_model = embedding_model
        self.dims = dims
        self.optimize_every = optimize_every
        #: ``None`` skips the check for other processes' writes (benchmarks compare).
        self.read_consistency = read_consistency
        self.maintenance = Maintenance(self._maintain, optimize_every)
        #: The model the stored vectors were made with, when it is not ours.
        self.mismatch: str | None = None
        self._db: Any = None
        self._tables: dict[str, Any] = {}
        #: One writer per table in this process: a background compaction that races a
        #: write loses its commit (LanceDB's "preempted by concurrent" error) and, retried
        #: against a steady stream of writes, never lands; fragments then pile up.
        self._locks: dict[str, asyncio.Lock] = {}
        #: Column names per table object (a replaced or reopened table is read again).
        self._columns: dict[str, tuple[Any, frozenset[str]]] = {}

    # ------------------------------------------------------------------ opening

    async def open(self) -> LanceStore:
        lancedb = lance_import.lancedb()

        if is_local_uri(self.uri):
            ensure_dir(Path(self.uri))
        where = lance_uri.parse(self.uri)  # a malformed s3:// URI: ConfigError, as is
        try:
            self._db = await lancedb.connect_async(
                where.uri,
                read_consistency_interval=self.read_consistency,
                session=session(),
                storage_options=where.storage_options or None,
            )
            names = set((await self._db.list_tables()).tables)
        except Exception as exc:
            raise MemoryStoreError(
                f"cannot open the memory store at {self.uri}: {exc}",
                "check memory.uri in muxi.yaml (a folder path or a LanceDB URI such as s3://...)",
            ) from exc
        stored_version: int | None = None
        if META in names:
            self._tables[META] = await self._db.open_table(META)
            stored_version = int((await self.meta()).get("schema_version", "0") or 0)
        elif names & {MEMORIES, CHUNKS, STATE}:
            stored_version = 0
        if stored_version is not None and stored_version > SCHEMA_VERSION:
            raise MemoryStoreError(
                f"the memory store at {self.uri} has schema version {stored_version}, newer than "
                f"this muxi understands ({SCHEMA_VERSION})",
                "upgrade muxi (pip install -U muxi-cli), or point memory.uri at another folder",
            )
        if STATE in names:
            await self._migrate_session_state()
        for name in (META, MEMORIES, CHUNKS):
            if name in names:
                self._tables[name] = await self._db.open_table(name)
            else:
                self._tables[name] = await self._db.create_table(
                    name, schema=schema_for(name, self.dims), exist_ok=True
                )
        if stored_version is not None and stored_version < SCHEMA_VERSION:
            await self._migrate(stored_version)
        if stored_version != SCHEMA_VERSION:
            await self.set_meta(schema_version=str(SCHEMA_VERSION))
        await self._check_embedding_model()
        await self._ensure_indexes()
        await self.sync_catalog()
        return self

    async def _migrate(self, from_version: int) -> None:
        """Add the columns a store of ``from_version`` lacks (old rows get defaults)."""
        for name in (MEMORIES, CHUNKS):
            table = self._tables[name]
            actual = await table.schema()
            dims = vector_dims(actual) or self.dims
            expected = schema_for(name, dims)
            missing = missing_columns(actual, expected)
            unknown = [c for c in missing if c not in COLUMN_DEFAULTS]
            if unknown:
                raise MemoryStoreError(
                    f"the memory store at {self.uri} (schema version {from_version}) lacks the "
                    f"column(s) {', '.join(unknown)} of table {name!r}, which cannot be filled in",
                    "export it with the muxi version that wrote it (muxi memory export), move the "
                    "folder away, then run muxi memory import with this version",
                )
            if not missing:
                continue
            try:
                # One commit; ``qvector`` copies ``vector`` (COLUMN_DEFAULTS).
                await table.add_columns({c: COLUMN_DEFAULTS[c] for c in missing})
            except Exception:
                # Another process opening the same old store may have migrated it first.
                if missing_columns(await table.schema(), expected):
                    raise
            self._columns.pop(name, None)

    async def _check_embedding_model(self) -> None:
        meta = await self.meta()
        stored = meta.get("embedding_model")
        stored_dims = vector_dims(await self._tables[MEMORIES].schema())
        if stored is None:
            await self.set_meta(embedding_model=self.embedding_model, dims=str(self.dims))
            stored = self.embedding_model
        if stored == self.embedding_model and stored_dims == self.dims:
            return
        if await self._vector_rows() == 0:
            # Nothing embedded yet: switch models without ceremony.
            await self._recreate_vector_tables(self.dims)
            await self.set_meta(embedding_model=self.embedding_model, dims=str(self.dims))
            return
        self.mismatch = stored

    async def _vector_rows(self) -> int:
        return sum([await self._tables[n].count_rows() for n in VECTOR_TABLES])

    async def _recreate_vector_tables(self, dims: int) -> None:
        for name in VECTOR_TABLES:
            async with self._writing(name) as held:
                self._tables[name] = await self._db.create_table(
                    name, schema=schema_for(name, dims), mode="overwrite"
                )
                if held:
                    await self._recount(name)

    async def _ensure_indexes(self) -> None:
        lance_import.lancedb()
        from lancedb.index import FTS, Bitmap  # deferred: LanceDB is slow to import

        wanted = {
            MEMORIES: [("user_id", Bitmap()), ("kind", Bitmap()), ("text", FTS())],
            CHUNKS: [("agent", Bitmap()), ("text", FTS())],
        }
        for name, specs in wanted.items():
            table = self._tables[name]
            indices = await table.list_indices()
            have = {tuple(ix.columns) for ix in indices}
            behind = max(
                (int(getattr(ix, "num_unindexed_rows", 0) or 0) for ix in indices), default=0
            )
            if self.optimize_every and behind >= self.optimize_every:
                # Other processes' writes (one-shot commands write a row or two each
                # and never optimise) left rows the full-text index does not cover:
                # they are found by a slower flat pass until the next optimize.
                self.maintenance.later(CATCH_UP_AFTER)
            for column, config in specs:
                if (column,) in have:
                    continue
                try:
                    await self._commit(name, _index_job(table, column, config), {})
                except Exception:
                    # Another process may have created it at the same moment.
                    have = {tuple(ix.columns) for ix in await table.list_indices()}
                    if (column,) not in have:
                        raise

    def table(self, name: str) -> Any:
        try:
            return self._tables[name]
        except KeyError:
            raise MemoryStoreError(
                "the memory store is not open", "this is a bug in muxi; please report it"
            ) from None

    def require_vectors(self) -> None:
        """Refuse vector work when the stored vectors come from another model."""
        if self.mismatch is not None:
            raise MemoryStoreError(
                f"the memory store was embedded with {self.mismatch!r}, but memory.embedding is "
                f"now {self.embedding_model!r}; vectors of different models cannot be mixed",
                "run `muxi memory reindex` to re-embed every memory with the new model, or set "
                f"memory.embedding back to {self.mismatch!r}",
            )

    async def _maintain(self) -> None:
        await self.optimize(cleanup_older_than=KEEP_VERSIONS_FOR)
        from muxi_cli.stores.lance_cluster import maybe_cluster  # deferred: maintenance only

        await maybe_cluster(self)

    # ------------------------------------------------------------------ reads

    async def rows(
        self,
        table_name: str,
        where: str,
        *,
        limit: int | None = None,
        columns: list[str] | None = None,
    ) -> list[Row]:
        query = self.table(table_name).query().where(where)
        if columns:
            query = query.select(columns)
        if limit is not None:
            query = query.limit(limit)
        result: list[Row] = await query.to_list()
        return result

    async def column_names(self, table_name: str) -> frozenset[str]:
        """The columns of a table (searches select the optional ones it has)."""
        table = self.table(table_name)
        cached = self._columns.get(table_name)
        if cached is None or cached[0] is not table:
            cached = (table, frozenset((await table.schema()).names))
            self._columns[table_name] = cached
        return cached[1]

    async def count(self, table_name: str, where: str | None = None) -> int:
        return int(await self.table(table_name).count_rows(where))

    async def hybrid(
        self,
        table_name: str,
        where: str,
        vector: np.ndarray,
        text: str,
        *,
        limit: int = 10,
        candidates: int | None = None,
        columns: list[str] | None = None,
        text_where: str | None = None,
        text_keep: Callable[[Row], bool] | None = None,
    ) -> list[Row]:
        """Vector + full-text search under the prefilter ``where``, fused with RRF.

        ``text_where`` may give the text leg a cheaper prefilter (indexed columns
        only: the user scope must stay in it), with ``text_keep`` filtering its
        rows afterwards; FTS prefilters on unindexed columns cost a scan.

        Each returned row carries ``_rrf`` (the fused score), ``_similarity``
        (cosine similarity, when the vector leg found it) and ``_fts`` (the BM25
        score, when the text leg found it).
        """
        self.require_vectors()
        text_where = text_where or where
        where = sql.and_(where, sql.eq("embedding_model", self.embedding_model))
        k = candidates or max(limit * 4, 20)
        table = self.table(table_name)
        vq = (
            table.query()
            .nearest_to(vector.astype("float32"))
            .column("vector")  # memories also hold ``qvector``: name the one searched
            .distance_type("cosine")
            .where(where)
            .limit(k)
        )
        if columns:
            vq = vq.select(columns)
        fq = None
        if text.strip():
            fq = table.query().nearest_to_text(text).where(text_where).limit(k)
            if columns:
                fq = fq.select(columns)
        # Both legs run at once (LanceDB executes them natively, off the event loop).
        legs = await asyncio.gather(
            vq.to_list(), fq.to_list() if fq is not None else _nothing(), return_exceptions=True
        )
        if isinstance(legs[0], BaseException):
            raise legs[0]
        vector_rows: list[Row] = legs[0]
        # A query the FTS parser cannot take leaves the vector leg standing.
        text_rows: list[Row] = [] if isinstance(legs[1], BaseException) else legs[1]
        if text_keep is not None:
            text_rows = [r for r in text_rows if text_keep(r)]
        return fuse_rrf(vector_rows, text_rows, limit=limit)

    # ------------------------------------------------------------------ maintenance

    async def optimize(self, cleanup_older_than: timedelta | None = None) -> dict[str, Any]:
        """Compact files, refresh indexes and drop old table versions."""
        stats: dict[str, Any] = {}
        older = cleanup_older_than if cleanup_older_than is not None else timedelta(minutes=1)
        for name in (MEMORIES, CHUNKS, META):
            table: Any = self.table(name)
            results: list[Any] = []

            async def compact(table: Any = table, results: list[Any] = results) -> None:
                results.append(await table.optimize(cleanup_older_than=older))

            await self._commit(name, compact, {})
            result = results[-1]
            stats[name] = {
                "fragments_removed": result.compaction.fragments_removed,
                "fragments_added": result.compaction.fragments_added,
                "old_versions_removed": result.prune.old_versions_removed,
                "bytes_removed": result.prune.bytes_removed,
            }
        return stats

    async def versions(self) -> dict[str, int]:
        return {name: int(await self.table(name).version()) for name in self._tables}

    async def replace_table(self, name: str, data: Any, dims: int) -> None:
        """Overwrite a vector table with ``data`` (an Arrow table) in one commit."""
        import pyarrow as pa  # deferred: pyarrow is slow to import

        schema = schema_for(name, dims)
        if data is None or len(data) == 0:
            data = schema.empty_table()
        else:
            data = pa.Table.from_pylist(data.to_pylist(), schema=schema)
        async with self._writing(name) as held:
            self._tables[name] = await self._db.create_table(name, data, mode="overwrite")
            if held:
                await self._recount(name)

    async def adopt_model(self, embedding_model: str, dims: int) -> None:
        """Record that every vector now comes from ``embedding_model`` (after a reindex)."""
        self.embedding_model = embedding_model
        self.dims = dims
        self.mismatch = None
        await self.set_meta(embedding_model=embedding_model, dims=str(dims))
        await self._ensure_indexes()

    def disk_bytes(self) -> int | None:
        if not is_local_uri(self.uri):
            return None
        total = 0
        for root, _dirs, files in os.walk(self.uri):
            for name in files:
                try:
                    total += os.path.getsize(os.path.join(root, name))
                except OSError:
                    pass
        return total

    async def close(self) -> None:
        await self.maintenance.close()
        self.catalog.close()
        self._tables.clear()
        if self._db is not None:
            close: Callable[[], Any] | None = getattr(self._db, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass
            self._db = None


def now() -> float:
    return time.time()


async def _nothing() -> list[Row]:
    return []
