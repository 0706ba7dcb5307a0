"""An in-memory :class:`Runtime` for server tests (no LLM, no disk).

Turns follow :class:`Script` objects queued with :meth:`FakeRuntime.script`;
with none queued a turn answers ``"echo: <message>"``. Messages are saved as
they stream, like LocalRuntime, so a cancelled turn keeps its partial reply.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from muxi_cli.errors import CancelledError, NotFoundError, ToolDeniedError
from muxi_cli.protocol.events import Event, EventFactory, new_id, now_iso
from muxi_cli.protocol.live import LiveReport
from muxi_cli.protocol.memstats import MapCluster, MapPoint, MemoryMap, MemoryStats
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
from muxi_cli.runtime.live import LiveRuns
from muxi_cli.runtime.observe import EventTap
from muxi_cli.runtime.turns import TaskTurn
from tests.server.fakemedia import FakeMediaStore, fake_sniff
from tests.stats.fakes import counted_report
from tests.timeline.fakes import turns_of


@dataclass
class Script:
    text: str = "hello from the fake runtime"
    #: Ask for one calculator call first (approval per the request's mode).
    tool: bool = False
    #: Wait for this event after the first word (for cancel/disconnect tests).
    hold: asyncio.Event | None = None
    #: Set once the first word was sent.
    started: asyncio.Event = field(default_factory=asyncio.Event)


class FakeRuntime:
    label = "local"

    def __init__(self) -> None:
        self._scripts: deque[Script] = deque()
        self.sessions_: dict[str, SessionInfo] = {}
        self.messages_: dict[str, list[SessionMessage]] = {}
        self.memory: dict[str, MemoryItem] = {}
        self._approvals: dict[str, asyncio.Future[ApprovalDecision]] = {}
        #: Set whenever a turn ends (however it ends).
        self.turn_closed = asyncio.Event()
        self._ids = itertools.count(1)
        self.closed_turns = 0
        #: The agent of every turn that completed (``stats``).
        self.completed_agents: list[str] = []
        #: ``(call_id, decision)`` of every approval the runtime got.
        self.decisions: list[tuple[str, str]] = []
        #: Where ``put_media`` stores (the server's ``media_store`` in tests).
        self.media_store = FakeMediaStore()
        #: Media ids each session's messages hold, in order.
        self.session_media_: dict[str, list[str]] = {}
        #: Every request a turn was started for.
        self.requests: list[ChatRequest] = []
        #: What ``transcribe`` answers (and what it was given), and what ``speak`` got.
        self.transcript = "what is the weather"
        self.transcribed: list[tuple[bytes, str]] = []
        self.spoken: list[str] = []
        #: Every event of every turn, as on LocalRuntime; the runs in flight on it (``live``).
        self.tap = EventTap()
        self.live_runs = LiveRuns(self.tap)

    def script(self, *scripts: Script) -> None:
        self._scripts.extend(scripts)

    # -- turns -----------------------------------------------------------------------

    def _session_for(self, req: ChatRequest) -> SessionInfo:
        if req.session_id:
            if req.session_id not in self.sessions_:
                raise NotFoundError(f"no session {req.session_id!r}", hint="list sessions")
            return self.sessions_[req.session_id]
        sid = new_id("s")
        info = SessionInfo(
            id=sid,
            title=req.title or req.message[:40],
            user_id=req.user_id or "local",
            agent="assistant",
            created_at=now_iso(),
            updated_at=now_iso(),
        )
        self.sessions_[sid] = info
        self.messages_[sid] = []
        return info

    def _add(self, sid: str, role: str, content: str, run_id: str, status: str) -> SessionMessage:
        msgs = self.messages_[sid]
        msg = SessionMessage(
            id=next(self._ids),
            session_id=sid,
            seq=len(msgs),
            role=role,
            content=content,
            agent="assistant" if role == "assistant" else None,
            run_id=run_id,
            status=status,
            created_at=now_iso(),
        )
        msgs.append(msg)
        self.sessions_[sid].message_count = len(msgs)
        return msg

    async def chat(self, request: ChatRequest) -> TaskTurn:
        info = self._session_for(request)  # raises before the turn starts, like a real runtime
        owned = self.media_store.for_owner(request.user_id)
        for att in request.attachments:
            if att.media_id is not None:
                if not owned.has(att.media_id):  # the engine's own check
                    raise NotFoundError(f"no media {att.media_id!r}")
                self.session_media_.setdefault(info.id, []).append(att.media_id)
        self.requests.append(request)
        run_id = new_id("run")
        return TaskTurn(run_id, info.id, self._turn(request, info, run_id), self._answer, self.tap)

    async def _turn(self, req: ChatRequest, info: SessionInfo, run_id: str) -> AsyncIterator[Event]:
        script = self._scripts.popleft() if self._scripts else Script(text=f"echo: {req.message}")
        f = EventFactory(info.id, run_id)
        self._add(info.id, "user", req.message, f.run_id, "complete")
        reply = self._add(info.id, "assistant", "", f.run_id, "streaming")
        try:
            yield f.run_started("assistant", req.user_id or "local")
            yield f.agent_routed("assistant", "only agent", "single")
            if script.tool:
                call_id = new_id("call")
                yield f.tool_requested(call_id, "builtin", "calculator", {"expression": "2+2"})
                if req.approval == "yes":
                    decision = "allow"
                    yield f.tool_approval(call_id, "allowed", "policy")
                elif req.approval == "deny":
                    decision = "deny"
                    yield f.tool_approval(call_id, "denied", "policy")
                else:
                    fut: asyncio.Future[ApprovalDecision] = (
                        asyncio.get_running_loop().create_future()
                    )
                    self._approvals[call_id] = fut
                    yield f.tool_approval(call_id, "pending", "user")
                    try:
                        decision = await fut
                    finally:
                        self._approvals.pop(call_id, None)
                    yield f.tool_approval(
                        call_id, "denied" if decision == "deny" else "allowed", "user"
                    )
                if decision == "deny":
                    yield f.tool_result(call_id, False, ToolDeniedError("denied").message, 0)
                else:
                    yield f.tool_result(call_id, True, "4", 1)
            words = script.text.split(" ")
            for i, word in enumerate(words):
                piece = word if i == len(words) - 1 else word + " "
                reply.content += piece
                yield f.text_delta(piece)
                if i == 0:
                    script.started.set()
                    if script.hold is not None:
                        await script.hold.wait()  # Turn.cancel() cancels the wait
            yield f.usage("fake-model", 10, len(words), None)
            reply.status = "complete"
            yield f.run_completed(reply.content)
            self.completed_agents.append("assistant")
        except CancelledError as exc:
            reply.status = "cancelled"
            yield f.run_failed(exc.code, exc.message, exc.hint)
        finally:
            if reply.status == "streaming":
                reply.status = "cancelled"
            self.closed_turns += 1
            self.turn_closed.set()

    def _answer(self, run_id: str, call_id: str, decision: ApprovalDecision) -> None:
        self.decisions.append((call_id, decision))
        fut = self._approvals.get(call_id)
        if fut is None:
            raise NotFoundError(f"no pending call {call_id!r}")
        if not fut.done():
            fut.set_result(decision)

    # -- media -----------------------------------------------------------------------

    async def put_media(
        self,
        data: bytes,
        *,
        name: str | None = None,
        media_type: str | None = None,
        user_id: str | None = None,
    ) -> MediaRef:
        kind = fake_sniff(data, media_type)
        return self.media_store.for_owner(user_id).put(data, kind, name)

    async def get_media(
        self, media_id: str, *, user_id: str | None = None
    ) -> tuple[MediaRef, bytes]:
        owned = self.media_store.for_owner(user_id)
        ref = owned.info(media_id)
        if ref is None:
            raise NotFoundError(f"no media {media_id!r}")
        return ref, owned.get(media_id)

    async def session_media(self, session_id: str, user_id: str | None = None) -> list[MediaRef]:
        info = await self.session(session_id, user_id)
        owned = self.media_store.for_owner(info.user_id)
        refs = [owned.info(m) for m in self.session_media_.get(session_id, [])]
        return [r for r in refs if r is not None]

    async def transcribe(self, data: bytes, *, media_type: str, name: str | None = None) -> str:
        self.transcribed.append((data, media_type))
        return self.transcript

    async def speak(self, text: str, *, voice: str | None = None, fmt: str = "mp3") -> bytes:
        self.spoken.append(text)
        return b"RIFF" + text.encode() * 50

    # -- the rest --------------------------------------------------------------------

    async def agents(self) -> list[AgentInfo]:
        return [
            AgentInfo(
                "assistant", "the fake agent", "fake/fake-model", mcp_servers=["time"], default=True
            )
        ]

    async def sessions(
        self, user_id: str | None = None, query: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        out = [s for s in self.sessions_.values() if s.user_id == (user_id or "local")]
        if query:
            out = [s for s in out if query.lower() in s.title.lower()]
        return out[:limit]

    async def session(self, session_id: str, user_id: str | None = None) -> SessionInfo:
        info = self.sessions_.get(session_id)
        if info is None or (user_id is not None and info.user_id != user_id):
            raise NotFoundError(f"no session {session_id!r}", hint="list sessions")
        return info

    async def messages(self, session_id: str) -> list[SessionMessage]:
        await self.session(session_id)
        return list(self.messages_[session_id])

    async def rename_session(self, session_id: str, title: str) -> SessionInfo:
        info = await self.session(session_id)
        info.title = title
        return info

    async def delete_session(self, session_id: str) -> None:
        await self.session(session_id)
        del self.sessions_[session_id]
        del self.messages_[session_id]

    async def export_session(self, session_id: str, fmt: Literal["md", "json"]) -> str:
        info = await self.session(session_id)
        msgs = self.messages_[session_id]
        if fmt == "json":
            return json.dumps({"session": info.to_dict(), "messages": [m.to_dict() for m in msgs]})
        return f"# {info.title}\n\n" + "\n\n".join(f"**{m.role}**: {m.content}" for m in msgs)

    async def timeline(self, session_id: str, user_id: str | None = None) -> list[TimelineTurn]:
        info = await self.session(session_id, user_id)
        return turns_of(list(self.messages_[info.id]))

    async def memory_list(
        self,
        user_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        agent: str | None = None,
    ) -> list[MemoryItem]:
        uid = user_id or "local"
        out = [
            m
            for m in self.memory.values()
            if m.user_id == uid and (not kind or m.kind == kind) and (not agent or m.agent == agent)
        ]
        return out[:limit]

    async def memory_search(
        self, query: str, user_id: str | None = None, kind: str | None = None, limit: int = 10
    ) -> list[MemoryItem]:
        items = await self.memory_list(user_id, kind, 1000)
        words = set(query.lower().split())
        scored = [(len(words & set(m.text.lower().split())), m) for m in items]
        return [m for s, m in sorted(scored, key=lambda x: -x[0]) if s > 0][:limit]

    async def memory_add(
        self,
        text: str,
        user_id: str | None = None,
        kind: str = "fact",
        replaces: list[str] | None = None,
    ) -> MemoryItem:
        item = MemoryItem(new_id("m"), user_id or "local", kind, text, now_iso())
        self.memory[item.id] = item
        return item

    async def memory_get(self, memory_id: str, user_id: str | None = None) -> MemoryItem:
        item = self.memory.get(memory_id)
        if item is None or item.user_id != (user_id or "local"):
            raise NotFoundError(f"no memory {memory_id!r}")
        return item

    async def memory_forget(self, memory_id: str, user_id: str | None = None) -> None:
        item = self.memory.get(memory_id)
        if item is None or item.user_id != (user_id or "local"):
            raise NotFoundError(f"no memory {memory_id!r}")
        del self.memory[memory_id]

    async def memory_stats(self, user_id: str | None = None) -> MemoryStats:
        items = await self.memory_list(user_id, limit=1000)
        kinds: dict[str, int] = {}
        for m in items:
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
        return MemoryStats(user_id=user_id or "local", current=len(items), by_kind=kinds)

    async def memory_map(
        self, user_id: str | None = None, clusters: int | None = None
    ) -> MemoryMap:
        items = await self.memory_list(user_id, limit=1000)
        points = [MapPoint(m.id, float(i), 0.0, 0, m.text) for i, m in enumerate(items)]
        groups = [MapCluster(0, len(items), items[0].text, items[0].id)] if items else []
        return MemoryMap(user_id=user_id or "local", points=points, clusters=groups)

    async def tools(self, agent: str | None = None) -> list[ToolInfo]:
        if agent not in (None, "assistant"):
            raise NotFoundError(f"no agent {agent!r}")
        return [
            ToolInfo(
                "builtin__calculator", "builtin", "calculator", "math", {"type": "object"}, "ask"
            )
        ]

    async def mcp_servers(self) -> list[ServerInfo]:
        return [ServerInfo("time", "stdio", "ready", 2, 800, approval="ask")]

    async def mcp_attach(
        self, name: str, server: dict[str, Any], agents: list[str] | None = None
    ) -> ServerInfo:
        return ServerInfo(name, "stdio", "starting")

    async def mcp_detach(self, name: str) -> None:
        return None

    async def mcp_restart(self, name: str) -> ServerInfo:
        if name != "time":
            raise NotFoundError(f"no MCP server named {name!r}")
        return ServerInfo(name, "stdio", "starting")

    async def mcp_prompts(self, server: str | None = None) -> list[dict[str, Any]]:
        return [{"server": "time", "name": "tz", "description": "Time zones", "arguments": []}]

    async def mcp_get_prompt(
        self, server: str, name: str, arguments: dict[str, str] | None = None
    ) -> str:
        return f"prompt {name} of {server}"

    async def mcp_resources(self, server: str | None = None) -> list[dict[str, Any]]:
        return [{"server": "time", "uri": "time://zones", "name": "zones"}]

    async def mcp_read_resource(self, server: str, uri: str) -> str:
        return f"content of {uri}"

    async def health(self) -> Health:
        return Health(True, "0.1.0", "local", "assistant", "fake/fake-model", {"fake": True})

    async def stats(
        self, since: str | None = None, by: str = "agent", user_id: str | None = None
    ) -> StatsReport:
        return counted_report(self.completed_agents, since, by, user_id)

    async def live(self, user_id: str | None = None) -> LiveReport:
        return self.live_runs.report(user_id)

    async def aclose(self) -> None:
        return None
