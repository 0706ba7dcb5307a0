"""``LocalRuntime``: agents running in this process."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli import __version__, parts, paths
from muxi_cli.config.loader import load_formation
from muxi_cli.core.approvals import ApprovalBroker
from muxi_cli.core.cancel import STOP_REASON, StopReason
from muxi_cli.errors import (
    ConfigError,
    MediaTooLargeError,
    MemoryStoreError,
    MuxiError,
    NoProviderError,
    NotFoundError,
    TurnTimeoutError,
)
from muxi_cli.protocol.events import Event, new_id
from muxi_cli.protocol.live import LiveReport
from muxi_cli.protocol.memstats import MemoryMap, MemoryStats
from muxi_cli.protocol.messages import MediaRef
from muxi_cli.protocol.records import (
    AgentInfo,
    ApprovalDecision,
    ChatRequest,
    Health,
    MemoryItem,
    ServerInfo,
    SessionInfo,
    SessionMessage,
    ToolInfo,
)
from muxi_cli.protocol.stats import StatsReport
from muxi_cli.protocol.timeline import TimelineTurn
from muxi_cli.runtime import memviz, telemetry
from muxi_cli.runtime.live import LiveRuns
from muxi_cli.runtime.observe import EventTap
from muxi_cli.runtime.optional import without_missing_parts
from muxi_cli.runtime.recorder import RunLog
from muxi_cli.runtime.telemetry import Telemetry
from muxi_cli.runtime.timeline import session_timeline
from muxi_cli.runtime.turns import TaskTurn, failure_event
from muxi_cli.runtime.users import local_user_id
from muxi_cli.runtime.warmup import warm_up
from muxi_cli.stores.session_rows import new_session_id
from muxi_cli.stores.sessions import SessionStore, export_session

if TYPE_CHECKING:
    from muxi_cli.config.loader import LoadedFormation
    from muxi_cli.config.schema import Formation
    from muxi_cli.core.orchestrator import Orchestrator
    from muxi_cli.core.router import RouteCache
    from muxi_cli.llm.registry import ProviderRegistry
    from muxi_cli.memory.base import MemoryBackend
    from muxi_cli.stores.media import MediaStore
    from muxi_cli.stores.sessions import SessionStore
    from muxi_cli.tools.base import ToolDef, ToolHost

log = logging.getLogger("muxi.runtime")


class LocalRuntime:
    """The :class:`~muxi_cli.runtime.base.Runtime` that runs agents in-process."""

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
        self.runs = RunLog(self.tap, store.path)
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
    ) -> LocalRuntime:
        """Load the formation and build every part; MCP servers start in the
        background (the first prompt never waits for a slow one)."""
        parts.require("local", "running agents on this machine")
        from muxi_cli.core.router import RouteCache  # deferred: loads pydantic
        from muxi_cli.llm.registry import ProviderRegistry  # deferred: loads pydantic
        from muxi_cli.memory.service import MemoryService  # deferred: loads pydantic
        from muxi_cli.tools.host import ToolManager  # deferred: loads pydantic

        loaded = without_missing_parts(load_formation(config_path))
        formation = loaded.formation
        # Checked before anything opens: telemetry asked for and not installed stops here.
        traces = telemetry.required(formation)
        base_dir = loaded.path.parent if loaded.path is not None else Path.cwd()
        models = ProviderRegistry(formation)
        store = SessionStore(sessions_path, media_config=formation.media)
        recovered = store.recover_interrupted()
        if recovered:
            log.info("marked %d reply(ies) cut off by a crash as interrupted", recovered)
        tools = ToolManager(formation, base_dir=base_dir, config_file=loaded.path)
        memory = MemoryService(formation, models, base_dir=base_dir)
        cache = RouteCache(
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

    # ----------------------------------------------------------------- media

    def _media(self, user_id: str | None) -> MediaStore:
        """``user_id``'s own namespace of the media store (turns read it the same way)."""
        return self.store.media.for_owner(user_id or self.user_id)

    @property
    def media_max_bytes(self) -> int:
        """The largest file :meth:`put_media` accepts (``muxi chat --attach`` checks first)."""
        return self.store.media.max_bytes

    async def put_media(
        self,
        data: bytes,
        *,
        name: str | None = None,
        media_type: str | None = None,
        user_id: str | None = None,
    ) -> MediaRef:
        # deferred: Pillow, pdfium and the Office readers load only when a file comes in
        from muxi_cli.media.ingest import normalize

        store = self._media(user_id)
        if len(data) > store.max_bytes:  # refused before any decoding work
            raise MediaTooLargeError(
                f"{name or 'the file'} is {len(data):,} bytes; a file may be at most "
                f"{store.max_bytes:,} bytes",
                hint="send a smaller file (scale the image down, or split the document)",
            )
        # Decoding and re-encoding is CPU work: off the event loop, so a server stays live.
        clean = await asyncio.to_thread(normalize, data, name, media_type)
        return await asyncio.to_thread(
            store.put, clean.data, clean.media_type, name, meta=clean.meta
        )

    async def get_media(
        self, media_id: str, *, user_id: str | None = None
    ) -> tuple[MediaRef, bytes]:
        store = self._media(user_id)
        ref = store.info(media_id)
        if ref is None:
            raise NotFoundError(f"no media {media_id[:16]!r}", hint="see `muxi sessions show ID`")
        return ref, await asyncio.to_thread(store.get, media_id)

    async def session_media(self, session_id: str, user_id: str | None = None) -> list[MediaRef]:
        return self.store.session_media(self._sid(session_id, user_id), user_id)

    # ---------------------------------------------------------------- memory

    async def transcribe(self, data: bytes, *, media_type: str, name: str | None = None) -> str:
        from muxi_cli.llm.audio import transcriber_for  # deferred: loads the provider code
        from muxi_cli.media.av import transcribe  # deferred: media code

        return await transcribe(
            data, media_type, transcriber_for(self.formation, self.models), name
        )

    async def speak(self, text: str, *, voice: str | None = None, fmt: str = "mp3") -> bytes:
        from muxi_cli.llm.audio import speaker_for  # deferred: loads the provider code
        from muxi_cli.media.speech import synthesize  # deferred: media code

        speaker = speaker_for(self.formation, self.models)
        voice = voice or self.formation.audio.voice
        return await synthesize(text, speaker=speaker, voice=voice, fmt=fmt)

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

    async def tools(self, agent: str | None = None) -> list[ToolInfo]:
        from muxi_cli.core.router import unknown_agent  # deferred: loads pydantic

        agents = self.formation.agents
        if agent is not None:
            one = self.formation.agent(agent)
            if one is None:
                raise unknown_agent(agent, [a.name for a in agents])
            agents = [one]
        found: dict[str, ToolInfo] = {}

        def info(d: ToolDef) -> ToolInfo:
            if d.name not in found:
                found[d.name] = ToolInfo(
                    name=d.name,
                    server=d.server,
                    tool=d.tool,
                    description=d.description,
                    input_schema=d.input_schema,
                    policy=d.policy,
                    kind=d.kind,
                )
            return found[d.name]

        if agent is None:
            for d in await self.tool_host.all_tools():
                info(d)
        for cfg in agents:
            defs = list(await self.tool_host.tools_for(cfg))
            defs += self.orchestrator.engine.delegate_tools(cfg, 0)
            for d in defs:
                info(d).agents.append(cfg.name)
        return sorted(found.values(), key=lambda t: (t.server, t.name))

    async def mcp_servers(self) -> list[ServerInfo]:
        return [
            ServerInfo(
                name=s.name,
                transport=s.transport,
                state=s.state,
                tool_count=s.tool_count,
                started_ms=s.started_ms,
                error=s.error,
                approval=self._server_policy(s.name),
            )
            for s in self.tool_host.statuses()
        ]

    def _server_policy(self, name: str) -> str | None:
        config = self.formation.mcp_servers.get(name)
        return config.approval if config is not None else None

    async def mcp_attach(
        self, name: str, server: dict[str, Any], agents: list[str] | None = None
    ) -> ServerInfo:

        from muxi_cli.config.schema import MCPServerConfig  # deferred: loads pydantic
        from muxi_cli.core.router import unknown_agent  # deferred: loads pydantic

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
            raise ConfigError(
                f"invalid MCP server name {name!r}",
                hint="use letters, digits, '-', '_' and '.' (max 64 characters)",
            )
        try:
            config = MCPServerConfig.model_validate(server)
        except ValueError as exc:
            raise ConfigError(
                f"invalid MCP server settings for {name!r}: {exc}",
                hint="give either command (+ args, env) or url (+ headers)",
            ) from None
        names = [a.name for a in self.formation.agents]
        for agent_name in agents or []:
            if agent_name not in names:
                raise unknown_agent(agent_name, names)
        self.formation.mcp_servers[name] = config
        for agent in self.formation.agents:
            if (agents is None or agent.name in agents) and name not in agent.mcp_servers:
                agent.mcp_servers.append(name)
        await self.tool_host.attach(name, config)
        for status in await self.mcp_servers():
            if status.name == name:
                return status
        return ServerInfo(name=name, transport=config.transport, state="starting")

    async def mcp_detach(self, name: str) -> None:

        if name not in self.formation.mcp_servers:
            raise NotFoundError(f"no MCP server named {name!r}", hint="see `muxi mcp list`")
        await self.tool_host.detach(name)
        del self.formation.mcp_servers[name]
        for agent in self.formation.agents:
            if name in agent.mcp_servers:
                agent.mcp_servers.remove(name)

    async def mcp_restart(self, name: str) -> ServerInfo:
        await self.tool_host.restart(name)
        for status in await self.mcp_servers():
            if status.name == name:
                return status
        return ServerInfo(name=name, transport="stdio", state="starting")  # pragma: no cover

    async def mcp_call(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call one tool of one server directly, no model, no approval (``muxi mcp call``
        through the warm host; admin keys only over HTTP)."""
        manager: Any = self.tool_host  # a ToolManager: the ToolHost protocol has no server_tool
        outcome = await manager.call(await manager.server_tool(server, tool), arguments)
        return {
            "ok": outcome.ok,
            "content": outcome.content,
            "structured": outcome.structured,
            "images": outcome.images,
        }

    def _ready_servers(self, server: str | None) -> list[str]:
        if server is not None:
            return [server]
        return [s.name for s in self.tool_host.statuses() if s.state == "ready"]

    async def mcp_prompts(self, server: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name in self._ready_servers(server):
            out += [{**p, "server": name} for p in await self.tool_host.list_prompts(name)]
        return out

    async def mcp_get_prompt(
        self, server: str, name: str, arguments: dict[str, str] | None = None
    ) -> str:
        return await self.tool_host.get_prompt(server, name, arguments)

    async def mcp_resources(self, server: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name in self._ready_servers(server):
            out += [{**r, "server": name} for r in await self.tool_host.list_resources(name)]
        return out

    async def mcp_read_resource(self, server: str, uri: str) -> str:
        return await self.tool_host.read_resource(server, uri)

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
            self._warming.add_done_callback(_note_warm_up)
        await asyncio.shield(self._warming)

    async def _warmed(self) -> None:
        """Wait for a running warm-up instead of loading the same things again beside
        it; how it ended is not the turn's business (a failure recurs in the turn)."""
        task = self._warming
        if task is not None and not task.done():
            await asyncio.wait([task])


def _note_warm_up(task: asyncio.Task[None]) -> None:
    """Log how a warm-up failed (and so mark its exception seen, whoever waited)."""
    if not task.cancelled() and task.exception() is not None:
        log.info("warm-up failed (the first turn reports it): %s", task.exception())


class LocalTurn(TaskTurn):
    """A turn of the in-process orchestrator, stopped by ``turn_timeout`` too.

    The turn timeout cancels the task like any cancel, after noting why (see
    :mod:`muxi_cli.core.cancel`), so the stopped turn is stored (and shown to
    the model later) as timed out.
    """

    def __init__(
        self, runtime: LocalRuntime, run_id: str, session_id: str, source: AsyncIterator[Event]
    ) -> None:
        self._timeout = runtime.formation.turn_timeout
        self._holder: dict[str, StopReason] = {}
        super().__init__(run_id, session_id, source, runtime._answer, runtime.tap)

    async def _produce(self) -> None:
        STOP_REASON.set(self._holder)

        def expire() -> None:
            self._holder["reason"] = "timeout"
            self.task.cancel()

        timer = asyncio.get_running_loop().call_later(self._timeout, expire)
        try:
            await super()._produce()
        finally:
            timer.cancel()

    def stopped(self, exc: BaseException) -> Event:
        if self._holder.get("reason") != "timeout":
            return super().stopped(exc)
        error = TurnTimeoutError(
            f"the turn took longer than {self._timeout:g} s",
            hint="raise turn_timeout in muxi.yaml; what was said so far is saved",
        )
        return failure_event(self.run_id, self.session_id, error)
