"""The memory service: buffer memory, long-term memory, recall and knowledge.

:class:`MemoryService` implements :class:`muxi_cli.memory.base.MemoryHooks` for the
agent loop, plus the management API used by ``Runtime.memory_*`` and the CLI.
Nothing heavy happens in ``__init__``: the store and the embedding model open on
first use.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli import paths
from muxi_cli.config.schema import AgentConfig, Formation
from muxi_cli.errors import MemoryStoreError, MuxiError, UsageError
from muxi_cli.llm.base import Message, ModelResolver
from muxi_cli.memory import buffer, facts, knowledge, llmcall, rank, versions
from muxi_cli.memory.base import Context, Recalled
from muxi_cli.memory.embeddings import Embedder, embedder_for
from muxi_cli.memory.extract import (
    Stored,
    extraction_prompt,
    extraction_system,
    parse_facts,
    questions_enabled,
    remember,
)
from muxi_cli.memory.rank import RankOptions
from muxi_cli.memory.scoring import CONFLICT_SIMILARITY, is_noise, recall_score
from muxi_cli.memory.usage import UsageCounter
from muxi_cli.protocol.records import MemoryItem
from muxi_cli.stores.lance_legs import memory_legs
from muxi_cli.stores.lance_records import ChunkRecords, MemoryRecords, Row
from muxi_cli.stores.lance_schema import SHARED_USER
from muxi_cli.stores.lance_store import LanceStore, now
from muxi_cli.stores.memory_catalog import MemoryCatalog, SessionState, Snapshot

if TYPE_CHECKING:
    from muxi_cli.memory.knowledge import IngestReport, Progress

log = logging.getLogger(__name__)

KINDS = ("fact", "knowledge")
#: How recall shows a superseded fact (always right below the fact that replaced it).
PREVIOUSLY = "Previously (since replaced): "
#: Candidates per search leg (the ranking sees every leg's, merged).
CANDIDATES = 20
#: What reading a date beyond the calendar raises (``date`` stops at year 9999).


def iso(ts: float | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="seconds")


def to_item(row: Row, score: float | None = None) -> MemoryItem:
    return MemoryItem(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        kind=str(row["kind"]),
        text=str(row["text"]),
        created_at=iso(row.get("created_at")),
        importance=round(float(row.get("importance") or 0.0), 4),
        source=row.get("source"),
        score=None if score is None else round(score, 4),
        agent=row.get("agent"),
        superseded_by=row.get("superseded_by"),
        # Rows written before schema version 2 have these inferred from their text.
        subject=facts.subject_for(row),
        dates=facts.dates_for(row),
        valid_from=iso(row.get("valid_from")),
        valid_until=iso(row.get("valid_until")),
        questions=facts.questions_of(row),
    )


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
        uri = formation.memory.uri or str(paths.memory_dir())
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

    # ------------------------------------------------------------------ plumbing

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = embedder_for(self.formation.memory.embedding, self.formation)
        return self._embedder

    async def store(self) -> LanceStore:
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

    async def _vector(self, text: str) -> Any:
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

    async def _nothing_to_recall(self, user_id: str, agent: AgentConfig) -> bool:
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
        if not agent.memory.enabled or not query.strip():
            return []
        if await self._nothing_to_recall(user_id, agent):
            return []
        limit = max(1, agent.memory.recall_limit)
        vector = await self._vector(query)
        at = self.clock()
        kind = None if agent.memory.long_term else "knowledge"
        hits = await self._memory_hits(user_id, vector, query, kind, limit * 3)
        scored: list[tuple[float, Recalled, Row | None]] = []
        for row in hits:
            source = "shared knowledge" if row["user_id"] == SHARED_USER else None
            if row["kind"] == "knowledge" and source is None:
                source = "your knowledge"
            text = row["text"]
            if row.get("superseded_by"):
                text = PREVIOUSLY + text
            recalled = Recalled(row["id"], row["kind"], text, row["_score"], source)
            scored.append((recalled.score, recalled, row))
        if agent.knowledge or await self._has_added_knowledge(agent):
            await self._ensure_knowledge(agent)
            chunk_rows = await (await self.chunks()).search(
                [agent.name], vector, query, limit=limit
            )
            for row in chunk_rows:
                if is_noise(row):
                    continue
                cite = (
                    f"{row['source']}#{row['position']}" if row.get("position") else row["source"]
                )
                score = recall_score(row, at)
                scored.append(
                    (score, Recalled(row["id"], "knowledge", row["text"], score, cite), None)
                )
        scored.sort(key=lambda item: item[0], reverse=True)
        chosen = _below_successors(scored)[:limit]
        used: dict[str, list[str]] = {}
        for _score, _recalled, hit in chosen:
            if hit is not None:
                used.setdefault(hit["user_id"], []).append(hit["id"])
        self.usage.note(used)  # written in the background: the turn does not wait
        return [recalled for _score, recalled, _row in chosen]

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
        if not (agent.memory.enabled and agent.memory.long_term) or self.providers is None:
            return
        if not await self.long_term_enabled(user_id):
            return
        states = await self.states()
        state: Row = await states.get(session_id) or {}
        upto = int(state.get("extracted_upto") or 0)
        if upto > len(history):
            upto = 0
        if len(history) - upto < max(1, agent.memory.extract_every):
            if state.get("user_id") != user_id:
                # Remember whose session this is, so `forget --all` can drop its summary.
                await states.put(session_id, user_id=user_id, agent=agent.name)
            return
        await self.extract(user_id, agent, history[upto:])
        await states.put(session_id, user_id=user_id, agent=agent.name, extracted_upto=len(history))

    async def extract(
        self, user_id: str, agent: AgentConfig, messages: list[Message]
    ) -> list[Stored]:
        """Ask the model for durable facts in ``messages`` and store them."""
        if self.providers is None:
            return []
        transcript = llmcall.render_messages(messages)
        if not transcript.strip():
            return []
        known: builtins.list[Row] = []
        snapshot = await self.known()
        if snapshot is None or snapshot.memory_count(user_id, ("fact",)):
            # Only a user with facts has facts the new ones may repeat or update.
            vector = await self._vector(transcript[-2000:])
            known = await (await self.records()).search(
                user_id, vector, transcript[-2000:], kind="fact", shared=False, limit=10
            )
        config = self.formation.memory
        ref = llmcall.model_ref(self.providers, agent, config.extraction_model)
        ask_questions = questions_enabled(config.questions, self.providers, ref)
        today = iso(self.clock())[:10]
        answer = await llmcall.ask(
            self.providers,
            ref,
            extraction_system(ask_questions),
            extraction_prompt(messages, known, today),
            max_tokens=1536 if ask_questions else 1024,  # questions: ~30 tokens a fact
        )
        found = parse_facts(answer, ref)
        if not found:
            return []  # the store and the embedding model stay closed
        judge = None
        if config.supersede_check:
            from muxi_cli.memory.supersede import model_judge  # deferred: only with facts

            judge = model_judge(self.providers, ref)
        records = await self.records()
        stored = []
        for fact in found:
            done = await remember(
                records,
                self.embedder,
                user_id,
                fact["text"],
                kind="fact",
                importance=fact["importance"],
                agent=agent.name,
                source="extraction",
                replaces=fact["replaces"],
                subject=fact["subject"],
                valid_from=fact["since"],
                questions=fact["questions"] if ask_questions else None,
                judge=judge,  # not asked when the extractor's links hold
            )
            stored.append(done)
        return stored

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
        vector = await self._vector(query)
        hits = await self._memory_hits(user_id, vector, query, kind, limit * 3)
        return [to_item(h, h["_score"]) for h in hits[:limit]]

    async def _memory_hits(
        self, user_id: str, vector: Any, query: str, kind: str | None, limit: int
    ) -> builtins.list[Row]:
        """The one search of stored memories, for recall and ``muxi memory search``
        alike: the user's own plus the shared knowledge (``'*'``), ranked by
        :mod:`muxi_cli.memory.rank` (best first, ``_score`` set, noise dropped), and a
        user entry winning over a shared one it repeats or contradicts. With the
        ``current`` option superseded rows come too, each below its successor."""
        options = self.ranking
        wanted = rank.prepare(query, vector, self.clock(), options)
        records = await self.records()
        try:
            legs = await memory_legs(
                records,
                user_id,
                vector,
                "" if options.fusion == "vector" else query,  # cosine only: no text leg
                kind=kind,
                shared=True,
                candidates=max(limit, CANDIDATES),
                include_superseded=options.current,
                questions=options.questions,
                date_patterns=rank.date_patterns(wanted.span) if wanted.span else None,
            )
        except MuxiError:
            raise
        except Exception as exc:
            # LanceDB reports a damaged table (a data file gone or truncated) as a bare
            # RuntimeError; as a store error it costs the turn its recall and the
            # memory_search tool a failed result, not the whole turn an internal error.
            # The details (file paths) go to the log, not to the model or a server's user.
            log.warning("memory search failed in %s: %s", self.uri, exc)
            raise MemoryStoreError(
                "the memory store could not be searched (its files look damaged; "
                "the log has the details)",
                "restore it from a `muxi memory export`, or move it aside to start afresh",
            ) from exc
        hits = rank.rank(legs, wanted, options)
        return _user_over_shared(hits, user_id)

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

    async def _has_added_knowledge(self, agent: AgentConfig) -> bool:
        """Whether ``muxi knowledge add`` gave ``agent`` knowledge beyond muxi.yaml."""

        return bool(await knowledge.extra_entries(await self.store(), agent.name))

    async def _ensure_knowledge(self, agent: AgentConfig) -> None:
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


def _below_successors(
    scored: builtins.list[tuple[float, Recalled, Row | None]],
) -> builtins.list[tuple[float, Recalled, Row | None]]:
    """Recall shows a superseded fact only right after the fact that replaced it."""
    kept: builtins.list[tuple[float, Recalled, Row | None]] = []
    shown: set[str] = set()
    for item in scored:
        row = item[2]
        successor = row.get("superseded_by") if row is not None else None
        if successor is None or successor in shown:
            kept.append(item)
            shown.add(item[1].id)
    return kept


def _user_over_shared(hits: list[Row], user_id: str) -> list[Row]:
    """Drop shared entries that a user entry contradicts or repeats (user wins)."""
    import numpy as np  # deferred: numpy is slow to import

    if user_id == SHARED_USER:  # searching the shared entries themselves: nothing to prefer
        return hits
    # Only the user's current entries: the hits hold replaced versions too (each below
    # its successor), and what the user no longer holds overrides nothing.
    own = [
        np.asarray(h["vector"], dtype=np.float32)
        for h in hits
        if h["user_id"] == user_id and not h.get("superseded_by")
    ]
    if not own:
        return hits
    kept = []
    for hit in hits:
        if hit["user_id"] == SHARED_USER:
            vector = np.asarray(hit["vector"], dtype=np.float32)
            if any(float(vector @ mine) >= CONFLICT_SIMILARITY for mine in own):
                continue
        kept.append(hit)
    return kept
