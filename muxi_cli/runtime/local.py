"""``LocalRuntime``: agents running in this process."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli import __version__, parts, paths
from muxi_cli.config.loader import load_formation
from muxi_cli.core.approvals import ApprovalBroker
from muxi_cli.errors import (
    MemoryStoreError,
    MuxiError,
    NoProviderError,
)
from muxi_cli.protocol.events import new_id
from muxi_cli.protocol.live import LiveReport
from muxi_cli.protocol.memstats import MemoryMap, MemoryStats
from muxi_cli.protocol.records import (
    AgentInfo,
    ApprovalDecision,
    ChatRequest,
    Health,
    MemoryItem,
    SessionInfo,
    SessionMessage,
)
from muxi_cli.protocol.stats import StatsReport
from muxi_cli.protocol.timeline import TimelineTurn
from muxi_cli.runtime import memviz, telemetry
from muxi_cli.runtime.live import LiveRuns
from muxi_cli.runtime.local_media import LocalMedia
from muxi_cli.runtime.local_tools import LocalTools
from muxi_cli.runtime.local_turn import LocalTurn, note_warm_up
from muxi_cli.runtime.observe import EventTap
from muxi_cli.runtime.optional import without_missing_parts
from muxi_cli.runtime.recorder import RunLog
from muxi_cli.runtime.telemetry import Telemetry
from muxi_cli.runtime.timeline import session_timeline
from muxi_cli.runtime.users import local_user_id
from muxi_cli.runtime.warmup import warm_up
from muxi_cli.stores.pg_sessions import session_store
from muxi_cli.stores.session_rows import new_session_id
from muxi_cli.stores.sessions import SessionStore, export_session

if TYPE_CHECKING:
    from muxi_cli.config.loader import LoadedFormation
    from muxi_cli.config.schema import Formation
    from muxi_cli.core.orchestrator import Orchestrator
    from muxi_cli.core.route_cache import RouteCache
    from muxi_cli.llm.registry import ProviderRegistry
    from muxi_cli.memory.base import MemoryBackend
    from muxi_cli.stores.sessions import SessionStore
    from muxi_cli.tools.base import ToolHost

log = logging.getLogger("muxi.runtime")


class LocalRuntime(LocalMedia, LocalTools):
    """The :class:`~muxi_cli.runtime.base.Runtime` that runs agents in-process.

    Its media and speech methods are in runtime/local_media.py, its tool and MCP
    methods in runtime/local_tools.py, its turn in runtime/local_turn.py."""

    label = "local"

    def __init__(
        self,
        loaded: LoadedFormation,
        models: ProviderRegistry,
        store: SessionStore,
        tools: ToolHost,
        memory: MemoryBackend,
        cache: RouteCache,
        *,
        user_id: str | None = None,
    ) -> None:
        from muxi_cli.core.orchestrator import Orchestrator  # deferred: loads pydantic

        self.loaded = loaded
        self.formation: Formation = loaded.formation
        self.models = models
        self.store = store
        self.tool_host = tools
        self.memory = memory
        self.cache = cache
        self.user_id = user_id or local_user_id()
        self.approvals = ApprovalBroker()
        #: Every event of every turn run here (run records, metrics, traces).
        self.tap = EventTap()
        #: Every finished run recorded in the sessions database (``muxi stats``).
        self.runs = RunLog(self.tap, store.database)
        #: The runs in flight (the chat app's dashboard, ``GET /v1/runs/live``).
        self.live_runs = LiveRuns(self.tap)
        #: OpenTelemetry on :attr:`tap` (runtime/telemetry.py); ``None``: off.
        self.telemetry: Telemetry | None = None
        self.orchestrator: Orchestrator = Orchestrator(
            self.formation, models, tools, memory, store, self.approvals, cache
        )
        self._turns: set[LocalTurn] = set()
        self._closed = False
        #: The warm-up :meth:`prepare` started (``None``: never asked).
        self._warming: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        config_path: str | Path | None = None,
        *,
        start_tools: bool = True,
        user_id: str | None = None,
        sessions_path: Path | None = None,
        database_url: str | None = None,
    ) -> LocalRuntime:
        """Load the formation and build every part; MCP servers start in the
        background (the first prompt never waits for a slow one).

        ``database_url`` (else ``MUXI_DATABASE_URL``) naming a PostgreSQL database
        puts the sessions and run records there instead of the SQLite file."""
        parts.require("local", "running agents on this machine")
        from muxi_cli.core.route_cache_pg import route_cache  # deferred: loads pydantic
        from muxi_cli.llm.registry import ProviderRegistry  # deferred: loads pydantic
        from muxi_cli.memory.service import MemoryService  # deferred: loads pydantic
        from muxi_cli.tools.host import ToolManager  # deferred: loads pydantic

        loaded = without_missing_parts(load_formation(config_path))
        formation = loaded.formation
        # Checked before anything opens: telemetry asked for and not installed stops here.
        traces = telemetry.required(formation)
        base_dir = loaded.path.parent if loaded.path is not None else Path.cwd()
        models = ProviderRegistry(formation)
        store = session_store(
            sessions_path, media_config=formation.media, database_url=database_url
        )
        recovered = store.recover_interrupted()
        if recovered:
            log.info("marked %d reply(ies) cut off by a crash as interrupted", recovered)
        tools = ToolManager(formation, base_dir=base_dir, config_file=loaded.path)
        memory = MemoryService(formation, models, base_dir=base_dir)
        cache = route_cache(  # the shared database's when MUXI_DATABASE_URL names one
            formation.router.cache_ttl,
            formation.router.cache_size,
            paths.cache_dir() / "routes.db",
        )
        runtime = cls(loaded, models, store, tools, memory, cache, user_id=user_id)
        if traces is not None:
            runtime.telemetry = telemetry.start(runtime.tap, traces)
        if start_tools:
            await tools.start()
        return runtime

    # ------------------------------------------------------------------ chat

    async def chat(self, request: ChatRequest) -> LocalTurn:
        """Start a turn; its run and session ids are allocated here, before it runs.

        An unknown session is refused at once (``NotFoundError``), as over HTTP.
        """
        await self._warmed()
        user_id = request.user_id or self.user_id
        if request.session_id:
            session_id = self.store.resolve_id(request.session_id, user_id)
            self.store.get_session(session_id, user_id)
            request = replace(request, session_id=session_id)  # a prefix, resolved once
        else:
            session_id = new_session_id()
        # Bad attachments are refused here, before the turn (exit 2, HTTP 4xx).
        incoming = await self.orchestrator.admit(request, user_id)
        run_id = new_id("run")
        source = self.orchestrator.turn(
            request, user_id, run_id=run_id, session_id=session_id, incoming=incoming
        )
        turn = LocalTurn(self, run_id, session_id, source)
        self._turns.add(turn)
        turn.task.add_done_callback(lambda _t: self._turns.discard(turn))
        return turn

    def _answer(self, run_id: str, call_id: str, decision: ApprovalDecision) -> None:
        self.approvals.answer(call_id, decision, run_id)

    # ---------------------------------------------------------------- agents

    def _model_of(self, agent: Any) -> str:
        try:
            return self.models.model_for(agent)
        except NoProviderError:
            return agent.model_ref or "(no provider configured)"

    async def agents(self) -> list[AgentInfo]:
        out = []
        for agent in self.formation.agents:
            tools = [t.builtin or t.python or "" for t in agent.tools]
            out.append(
                AgentInfo(
                    name=agent.name,
                    description=agent.description,
                    model=self._model_of(agent),
                    tools=tools,
                    mcp_servers=list(agent.mcp_servers),
                    delegates=list(agent.delegates),
                    memory=agent.memory.enabled,
                    knowledge=[k.path for k in agent.knowledge],
                    default=agent.name == self.formation.default.name,
                    system_message=agent.system_message,
                )
            )
        return out

    # -------------------------------------------------------------- sessions

    def _sid(self, session_id: str, user_id: str | None = None) -> str:
        return self.store.resolve_id(session_id, user_id)

    async def sessions(
        self, user_id: str | None = None, query: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        return self.store.list_sessions(user_id or self.user_id, query=query, limit=limit)

    async def session(self, session_id: str, user_id: str | None = None) -> SessionInfo:
        return self.store.get_session(self._sid(session_id, user_id), user_id)

    async def messages(self, session_id: str) -> list[SessionMessage]:
        return self.store.messages(self._sid(session_id))

    async def rename_session(self, session_id: str, title: str) -> SessionInfo:
        return self.store.rename_session(self._sid(session_id), title)

    async def delete_session(self, session_id: str) -> None:
        sid = self._sid(session_id)
        self.store.delete_session(sid)
        try:  # its summary goes too; the session itself is gone whatever happens here
            await self.memory.forget_session(sid)
        except MuxiError as exc:
            log.warning("could not drop the memory state of session %s: %s", sid, exc)

    async def export_session(self, session_id: str, fmt: Literal["md", "json"]) -> str:

        sid = self._sid(session_id)
        return export_session(self.store.get_session(sid), self.store.messages(sid), fmt)

    async def timeline(self, session_id: str, user_id: str | None = None) -> list[TimelineTurn]:
        return await session_timeline(self.runs, self._sid(session_id, user_id))

    # ---------------------------------------------------------------- memory

    def _memory_on(self) -> MemoryBackend:
        parts.require("memory", "long-term memory")
        if not any(a.memory.enabled for a in self.formation.agents):
            raise MemoryStoreError(
                "memory is switched off for every agent of this formation",
                hint="set memory.enabled: true for an agent in muxi.yaml",
            )
        return self.memory

    async def memory_list(
        self,
        user_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        agent: str | None = None,
    ) -> list[MemoryItem]:
        return await self._memory_on().list(
            user_id or self.user_id, kind=kind, limit=limit, agent=agent
        )

    async def memory_search(
        self, query: str, user_id: str | None = None, kind: str | None = None, limit: int = 10
    ) -> list[MemoryItem]:
        return await self._memory_on().search(
            query, user_id or self.user_id, kind=kind, limit=limit
        )

    async def memory_add(
        self,
        text: str,
        user_id: str | None = None,
        kind: str = "fact",
        replaces: list[str] | None = None,
    ) -> MemoryItem:
        return await self._memory_on().add(
            text, user_id or self.user_id, kind=kind, replaces=replaces
        )

    async def memory_get(self, memory_id: str, user_id: str | None = None) -> MemoryItem:
        return await self._memory_on().get(memory_id, user_id or self.user_id)

    async def memory_forget(self, memory_id: str, user_id: str | None = None) -> None:
        await self._memory_on().forget(memory_id, user_id or self.user_id)

    async def memory_stats(self, user_id: str | None = None) -> MemoryStats:
        return await memviz.memory_stats(self, user_id)

    async def memory_map(
        self, user_id: str | None = None, clusters: int | None = None
    ) -> MemoryMap:
        return await memviz.memory_map(self, user_id, clusters)

    # ----------------------------------------------------------------- tools

    # ---------------------------------------------------------------- health

    async def health(self) -> Health:
        model: str | None
        detail = None
        try:
            model = self.models.model_for(self.formation.default)
        except NoProviderError as exc:
            model = None
            detail = exc.message
        available = {name: source is not None for name, source in self.models.available().items()}
        return Health(
            ok=model is not None,
            version=__version__,
            mode="local",
            default_agent=self.formation.default.name,
            model=model,
            providers=available,
            detail=detail,
        )

    async def stats(
        self, since: str | None = None, by: str = "agent", user_id: str | None = None
    ) -> StatsReport:
        return await self.runs.stats(since, by, user_id)

    async def live(self, user_id: str | None = None) -> LiveReport:
        return self.live_runs.report(user_id)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._warming is not None:
            self._warming.cancel()
        running = [t.task for t in self._turns if not t.task.done()]
        for task in running:
            task.cancel()
        if running:  # let each turn save its partial reply before the store closes
            await asyncio.wait(running, timeout=10)
        # Memory extraction after the last reply gets a short, bounded wait: it never
        # holds a one-shot's exit for long. What does not finish is not lost: the
        # session's extraction mark did not move, so a later turn extracts again.
        await self.orchestrator.drain(timeout=self.formation.memory.exit_wait)
        for closer in (self.tool_host.aclose, self.memory.aclose, self.models.aclose):
            try:
                await closer()
            except Exception as exc:
                log.warning("closing %s failed: %s", closer, exc)
        await self.runs.aclose()  # after the turns: their last runs are written
        self.cache.close()
        self.store.close()
        if self.telemetry is not None:  # the last spans go out (blocks: a thread)
            await asyncio.to_thread(self.telemetry.shutdown)

    # ---------------------------------------------------------------- warm-up

    async def prepare(self) -> None:
        """Load now what the first turn would load on first use (runtime/warmup.py).
        Runs once however often it is called; a turn started meanwhile waits for it.
        Raises what the first turn would when it resolves its model."""
        if self._warming is None:
            self._warming = asyncio.create_task(
                warm_up(self.formation, self.models, self.memory, self.user_id),
                name="muxi-warm-up",
            )
            self._warming.add_done_callback(note_warm_up)
        await asyncio.shield(self._warming)

    async def _warmed(self) -> None:
        """Wait for a running warm-up instead of loading the same things again beside
        it; how it ended is not the turn's business (a failure recurs in the turn)."""
        task = self._warming
        if task is not None and not task.done():
            await asyncio.wait([task])
