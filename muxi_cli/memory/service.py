"""The memory service: buffer memory, long-term memory, recall and knowledge.

:class:`MemoryService` implements :class:`muxi_cli.memory.base.MemoryHooks` for the
agent loop (recall in :mod:`muxi_cli.memory.recall`, extraction after a turn in
:mod:`muxi_cli.memory.extraction`), plus the management API used by
``Runtime.memory_*`` and the CLI.
Nothing heavy happens in ``__init__``: the store and the embedding model open on
first use.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli import parts, paths
from muxi_cli.config.schema import AgentConfig, Formation
from muxi_cli.errors import MemoryStoreError, UsageError
from muxi_cli.llm.base import Message, ModelResolver
from muxi_cli.memory import buffer, extraction, knowledge, llmcall, versions
from muxi_cli.memory import recall as recall_
from muxi_cli.memory.base import Context, Recalled
from muxi_cli.memory.embeddings import Embedder, embedder_for
from muxi_cli.memory.extract import (
    Stored,
    remember,
)
from muxi_cli.memory.items import to_item
from muxi_cli.memory.rank import RankOptions
from muxi_cli.memory.usage import UsageCounter
from muxi_cli.protocol.records import MemoryItem
from muxi_cli.stores import lance_uri
from muxi_cli.stores.lance_records import ChunkRecords, MemoryRecords
from muxi_cli.stores.lance_schema import SHARED_USER
from muxi_cli.stores.lance_store import LanceStore, now
from muxi_cli.stores.memory_catalog import MemoryCatalog, SessionState, Snapshot

if TYPE_CHECKING:
    from muxi_cli.memory.knowledge import IngestReport, Progress

log = logging.getLogger(__name__)

KINDS = ("fact", "knowledge")


class MemoryService:
    """See the module docstring."""

    def __init__(
        self,
        formation: Formation,
        providers: ModelResolver | None,
        *,
        base_dir: Path | None = None,
        embedder: Embedder | None = None,
        ranking: RankOptions | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.formation = formation
        #: How search and recall rank (:mod:`muxi_cli.memory.rank`); all parts on by default.
        self.ranking = ranking or RankOptions()
        #: The current time, for decay and for "next month" in queries (tests fix it).
        self.clock: Callable[[], float] = clock or now
        self.providers = providers
        self.base_dir = base_dir or Path.cwd()
        uri = lance_uri.configured(formation.memory.uri) or str(paths.memory_dir())
        if "://" not in uri:
            path = Path(uri).expanduser()
            # Relative to the formation file, like knowledge paths.
            uri = str(path if path.is_absolute() else (self.base_dir / path).resolve())
        self.uri = uri
        #: What the store holds, known without opening it; and the session states.
        self.catalog = MemoryCatalog(uri)
        self._embedder = embedder
        self._store: LanceStore | None = None
        self._open_lock = asyncio.Lock()
        self._synced: set[str] = set()
        self.usage = UsageCounter(self.records)
        #: LanceDB and the embedder are installed (``muxi-cli[memory]``); without
        #: them recall finds nothing and the store cannot open (runtime/optional.py).
        self.available = parts.has("memory")

    # ------------------------------------------------------------------ plumbing

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = embedder_for(self.formation.memory.embedding, self.formation)
        return self._embedder

    async def store(self) -> LanceStore:
        if not self.available:
            parts.require("memory", "long-term memory")
        if self._store is None:
            async with self._open_lock:
                if self._store is None:
                    embedder = self.embedder
                    probe = getattr(embedder, "probe_dims", None)
                    if probe is not None:
                        # Dims the store recorded for this model spare the probe call.
                        known = self.catalog.snapshot()
                        meta = known.meta if known is not None else {}
                        if meta.get("embedding_model") == embedder.name and meta.get("dims"):
                            embedder.dims = int(meta["dims"])
                    dims = await probe() if probe is not None else embedder.dims
                    store = LanceStore(
                        self.uri, embedding_model=embedder.name, dims=dims, catalog=self.catalog
                    )
                    self._store = await store.open()
        return self._store

    async def embed_query(self, text: str) -> Any:
        """The embedding of ``text``; a store not open yet opens meanwhile.

        The model's session is built in a worker thread (native code that releases
        the GIL) while LanceDB is imported and opened on this one: the two overlap.
        The model's own imports run first, here: two threads importing modules they
        share (numpy) at once can deadlock.
        """
        if self._store is not None:
            return (await self.embedder.embed([text]))[0]
        prepare = getattr(self.embedder, "prepare", None)
        if prepare is not None:
            prepare()
        embedding = asyncio.ensure_future(self.embedder.embed([text]))
        await asyncio.sleep(0)  # the task's first step hands the model load to its thread
        try:
            await self.store()
        finally:
            vectors = await embedding
        return vectors[0]

    async def records(self) -> MemoryRecords:
        return MemoryRecords(await self.store())

    async def chunks(self) -> ChunkRecords:
        return ChunkRecords(await self.store())

    async def states(self) -> SessionState:
        return SessionState(self.catalog)

    async def known(self) -> Snapshot | None:
        """What the store holds, from the catalog: no LanceDB import, no embedding model,
        unless the catalog is stale (then the store opens and recounts). None for a
        store at a URI, whose counts are never known this way."""
        snapshot = self.catalog.snapshot()
        if snapshot is None and self.catalog.local:
            store = await self.store()
            await store.sync_catalog()  # a store opened earlier may have missed a write
            snapshot = self.catalog.snapshot()
        return snapshot

    async def has_memories(self, user_id: str) -> bool:
        """Whether ``user_id``'s memories or the shared ones hold anything (by the catalog,
        so a turn deciding to offer ``memory_search`` opens nothing); ``True`` for a store
        at a URI, whose counts are not known this way."""
        known = await self.known()
        if known is None:
            return True
        return bool(known.memory_count(user_id) or known.memory_count(SHARED_USER))

    # ------------------------------------------------------------------ hooks

    async def nothing_to_recall(self, user_id: str, agent: AgentConfig) -> bool:
        """Nothing for ``user_id`` and ``agent`` in the store (by the catalog): recall
        would only cost the LanceDB import and the embedding model."""
        if agent.knowledge:
            return False  # configured knowledge files are synced on the first recall
        known = await self.known()
        if known is None:
            return False
        kinds = None if agent.memory.long_term else ("knowledge",)
        return (
            known.memory_count(user_id, kinds) == 0
            and known.memory_count(SHARED_USER, kinds) == 0
            and not known.chunks.get(agent.name)
            and not known.meta.get(knowledge.extras_key(agent.name))
        )

    async def recall(self, user_id: str, agent: AgentConfig, query: str) -> list[Recalled]:
        if not self.available:
            return []
        return await recall_.recall(self, user_id, agent, query)

    async def window(self, session_id: str, agent: AgentConfig, history: list[Message]) -> Context:
        if sum(buffer.message_tokens(m) for m in history) <= agent.memory.buffer_tokens:
            # Everything fits: the whole history says more than any summary of it.
            return Context(list(history))
        states = await self.states()
        state = await states.get(session_id)
        summary: str | None = None
        covered = 0
        if state and state.get("summary"):
            stored_covered = int(state.get("covered") or 0)
            if stored_covered <= len(history) and buffer.prefix_hash(
                history, stored_covered
            ) == state.get("covered_hash"):
                summary, covered = state["summary"], stored_covered

        async def summarise(previous: str | None, messages: list[Message]) -> str:
            if self.providers is None:
                raise MemoryStoreError("no model to summarise with")
            ref = llmcall.model_ref(self.providers, agent, self.formation.memory.summary_model)
            prompt = buffer.summary_prompt(previous, messages)
            max_tokens = max(128, min(1024, agent.memory.buffer_tokens // 4))
            return await llmcall.ask(
                self.providers, ref, buffer.SUMMARY_SYSTEM, prompt, max_tokens=max_tokens
            )

        context, new_covered, changed = await buffer.fit_window(
            history, agent.memory.buffer_tokens, summary, covered, summarise
        )
        if changed:
            await states.put(
                session_id,
                agent=agent.name,
                summary=context.summary,
                covered=new_covered,
                covered_hash=buffer.prefix_hash(history, new_covered),
            )
        return context

    async def after_turn(
        self, user_id: str, agent: AgentConfig, session_id: str, history: list[Message]
    ) -> None:
        await extraction.after_turn(self, user_id, agent, session_id, history)

    async def extract(
        self, user_id: str, agent: AgentConfig, messages: list[Message]
    ) -> list[Stored]:
        """Ask the model for durable facts in ``messages`` and store them."""
        return await extraction.extract(self, user_id, agent, messages)

    # ------------------------------------------------------------------ management API

    async def list(
        self,
        user_id: str,
        kind: str | None = None,
        limit: int = 100,
        agent: str | None = None,
        *,
        include_superseded: bool = False,
    ) -> builtins.list[MemoryItem]:
        records = await self.records()
        rows = await records.listing(
            user_id, kind=kind, agent=agent, limit=limit, include_superseded=include_superseded
        )
        return [to_item(r) for r in rows]

    async def search(
        self, query: str, user_id: str, kind: str | None = None, limit: int = 10
    ) -> builtins.list[MemoryItem]:
        if not query.strip():
            raise UsageError("the search query is empty", "give some words to search for")
        vector = await self.embed_query(query)
        hits = await recall_.memory_hits(self, user_id, vector, query, kind, limit * 3)
        return [to_item(h, h["_score"]) for h in hits[:limit]]

    async def add(
        self,
        text: str,
        user_id: str,
        kind: str = "fact",
        importance: float = 0.5,
        agent: str | None = None,
        *,
        shared: bool = False,
        source: str | None = "manual",
        replaces: Sequence[str] | None = None,
    ) -> MemoryItem:
        """Remember ``text``; ``replaces`` names memories of the same owner it supersedes
        (ids or unique prefixes; an unknown one is an error, not skipped)."""
        text = text.strip()
        if not text:
            raise UsageError("the memory text is empty", "give the text to remember")
        if not 0.0 <= importance <= 1.0:
            raise UsageError(
                "importance must be between 0 and 1", "give a number such as 0.2 or 0.8"
            )
        owner = SHARED_USER if shared else user_id
        records = await self.records()
        full_ids = [await versions.replaceable(records, owner, kind, old) for old in replaces or []]
        stored = await remember(
            records, self.embedder, owner, text,
            kind=kind, importance=importance, agent=agent, source=source, replaces=full_ids,
        )  # fmt: skip
        return to_item(stored.row)

    async def get(self, memory_id: str, user_id: str) -> MemoryItem:
        """One memory, with the versions it replaced and those that replaced it."""
        records = await self.records()
        row = await records.get(user_id, memory_id)
        item = to_item(row)
        item.replaced = [
            versions.link(r) for r in (await versions.older(records, user_id, row))[1:]
        ]
        item.replaced_by = [versions.link(r) for r in await versions.newer(records, user_id, row)]
        return item

    async def history(self, memory_id: str, user_id: str) -> builtins.list[MemoryItem]:
        """The memory and the rows it superseded (newest first)."""
        records = await self.records()
        head = await records.get(user_id, memory_id)
        return [to_item(r) for r in await versions.older(records, user_id, head)]

    async def forget(self, memory_id: str, user_id: str) -> None:
        """Delete one memory and the older versions it superseded."""
        chain = await self.history(memory_id, user_id)
        await (await self.records()).delete(user_id, [item.id for item in chain])

    async def forget_session(self, session_id: str) -> None:
        """Drop a deleted session's running summary and extraction progress."""
        await (await self.states()).delete(session_id)

    async def forget_user(self, user_id: str) -> int:
        if user_id == SHARED_USER:
            raise UsageError(
                "'*' is the shared knowledge of every user",
                "forget shared entries one by one with `muxi memory forget ID --user '*'`",
            )
        count = await (await self.records()).delete_user(user_id)
        await (await self.states()).delete_user(user_id)
        return count

    async def long_term_enabled(self, user_id: str) -> bool:
        known = await self.known()
        meta = known.meta if known is not None else await (await self.store()).meta()
        return meta.get(f"long_term_off:{user_id}") != "1"

    async def set_long_term(self, user_id: str, enabled: bool) -> None:
        store = await self.store()
        await store.set_meta(**{f"long_term_off:{user_id}": "0" if enabled else "1"})

    # ------------------------------------------------------------------ knowledge

    async def has_added_knowledge(self, agent: AgentConfig) -> bool:
        """Whether ``muxi knowledge add`` gave ``agent`` knowledge beyond muxi.yaml."""

        return bool(await knowledge.extra_entries(await self.store(), agent.name))

    async def ensure_knowledge(self, agent: AgentConfig) -> None:
        """Ingest changed knowledge files once per process (on first recall)."""
        if agent.name in self._synced:
            return
        self._synced.add(agent.name)
        try:
            report = await self.sync_knowledge(agent)
            for source, error in report.errors.items():
                log.warning("knowledge %s: %s", source, error)
        except Exception as exc:
            log.warning("knowledge of agent %s could not be ingested: %s", agent.name, exc)

    async def sync_knowledge(
        self, agent: AgentConfig, *, force: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        """Ingest ``agent``'s changed knowledge files (configured and added ones)."""

        store = await self.store()
        full = knowledge.with_extras(agent, await knowledge.extra_entries(store, agent.name))
        return await knowledge.sync_agent(
            ChunkRecords(store), self.embedder, full, self.base_dir, force=force, progress=progress
        )

    async def add_knowledge(
        self,
        agent: AgentConfig,
        path: Path,
        description: str = "",
        *,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Add a file, folder or glob to ``agent``'s knowledge (kept in the store) and ingest it."""

        target = _absolute(path)
        knowledge.resolve_entry(knowledge.KnowledgeEntry(path=str(target)), self.base_dir)
        await knowledge.add_extra_entry(await self.store(), agent.name, target, description)
        return await self.sync_knowledge(agent, progress=progress)

    async def knowledge_entries(self, agent: AgentConfig) -> builtins.list[tuple[str, str, bool]]:
        """``(path, description, added_by_cli)`` of an agent's knowledge."""

        extras = await knowledge.extra_entries(await self.store(), agent.name)
        out = [(e.path, e.description, False) for e in agent.knowledge]
        known = {e.path for e in agent.knowledge}
        out += [(e.path, e.description, True) for e in extras if e.path not in known]
        return out

    async def settle(self) -> None:
        """Wait for background writes (use counters, maintenance) to finish."""
        await self.usage.flush()
        if self._store is not None:
            await self._store.maintenance.wait()

    async def aclose(self) -> None:
        await self.usage.flush()
        if self._store is not None:
            await self._store.close()
            self._store = None
        self.catalog.close()

    async def __aenter__(self) -> MemoryService:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def _absolute(path: Path) -> Path:
    target = path.expanduser()
    return target if target.is_absolute() else (Path.cwd() / target).resolve()
