"""A scripted, deterministic :class:`Runtime` for the TUI tests.

Every id and timestamp is fixed (counters and one clock value), so the screens
render the same on every run. A turn plays a queued script (or echoes the
message); ``Tool(..., approval="ask")`` emits a pending ``tool.approval`` and
waits until the app calls :meth:`approve`; ``Gate`` holds the stream until the
test opens it.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from muxi_cli.errors import MuxiError, NotFoundError
from muxi_cli.protocol.events import Event, from_fields
from muxi_cli.protocol.live import LiveReport
from muxi_cli.protocol.memstats import MemoryMap, MemoryStats
from muxi_cli.protocol.messages import ImagePart, Part, TextPart, ToolResultPart
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
from tests.stats.fakes import counted_report
from tests.timeline.fakes import turns_of
from tests.tui.fake_media import FakeMedia, media_part
from tests.tui.fake_memviz import fake_memory_map, fake_memory_stats

CLOCK = "2026-01-15T10:30:00.000Z"


# --------------------------------------------------------------------------- script steps


@dataclass
class Text:
    text: str
    chunks: int | None = None  # None: one delta per word


@dataclass
class Route:
    agent: str
    reason: str
    method: str = "llm"


@dataclass
class Memories:
    items: list[dict[str, Any]]


@dataclass
class Tool:
    tool: str
    arguments: dict[str, Any]
    result: str = "ok"
    server: str = "demo"
    ok: bool = True
    duration_ms: int = 12
    approval: Literal["policy", "ask", "deny"] = "policy"
    call_id: str | None = None
    #: PNG bytes the tool returns (stored as the tool message's image parts; the
    #: result's text names each, as MCP results do).
    images: list[bytes] = field(default_factory=list)


@dataclass
class Usage:
    input_tokens: int = 10
    output_tokens: int = 20
    cost_usd: float | None = 0.0012
    model: str = "fake/model-1"


@dataclass
class Fail:
    code: str
    message: str
    hint: str | None = None


@dataclass
class Raise:
    error: Exception


@dataclass
class Gate:
    """Wait until ``runtime.open_gate(name)``."""

    name: str


@dataclass
class Raw:
    """Any event, e.g. an unknown type."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Delegate:
    agent: str
    steps: list[Any]


Step = Text | Route | Memories | Tool | Usage | Fail | Raise | Gate | Raw | Delegate


def _split(text: str, chunks: int | None) -> list[str]:
    if chunks is None:
        out, cur = [], ""
        for ch in text:
            cur += ch
            if ch == " ":
                out.append(cur)
                cur = ""
        if cur:
            out.append(cur)
        return out
    size = max(1, -(-len(text) // chunks))
    return [text[i : i + size] for i in range(0, len(text), size)]


class FakeRuntime(FakeMedia):
    """Implements the whole Runtime protocol in memory."""

    def __init__(
        self,
        *,
        label: str = "local",
        model: str | None = "fake/model-1",
        agents: list[AgentInfo] | None = None,
        servers: list[ServerInfo] | None = None,
        mode: Literal["local", "remote"] = "local",
        role: str | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        #: The key's role for ``whoami`` (a remote runtime's); None: no ``whoami``.
        self.role = role
        self.model = model
        self.mode = mode
        self.agent_list = agents or [
            AgentInfo("assistant", "General help", "fake/model-1", default=True),
            AgentInfo("coder", "Writes and reviews code", "fake/model-2", tools=["demo.add"]),
            AgentInfo("researcher", "Finds and summarises sources", "fake/model-1"),
        ]
        self.server_list = servers or [
            ServerInfo("demo", "stdio", "ready", tool_count=2, started_ms=120),
            ServerInfo("broken", "http", "failed", error="connection refused"),
        ]
        self.scripts: deque[list[Step]] = deque()
        self.restarted: list[str] = []
        self.after_restart: dict[str, ServerInfo] = {}
        self.requests: list[ChatRequest] = []
        self.approvals: list[tuple[str, str]] = []
        self.cancelled: list[str] = []
        self.closed_runs: list[str] = []
        #: The agent of every turn that completed (``stats``).
        self.completed_agents: list[str] = []
        self.aclosed = False
        #: How often the app asked for a warm-up (Runtime.prepare).
        self.prepared = 0
        self.sessions_data: dict[str, SessionInfo] = {}
        self.messages_data: dict[str, list[SessionMessage]] = {}
        self.memories: list[MemoryItem] = []
        self.approval_waiting = asyncio.Event()
        self.turn_finished = asyncio.Event()
        self._gates: dict[str, asyncio.Event] = {}
        self._pending: dict[str, asyncio.Future[str]] = {}
        self._counter = 0
        self._msg_id = 0
        #: Every event of every turn, as on LocalRuntime; the runs in flight on it (``live``).
        self.tap = EventTap()
        self.live_runs = LiveRuns(self.tap)
        #: How often ``live`` and ``stats`` were asked (the dashboard's polling).
        self.live_calls = 0
        self.stats_calls = 0

    # -- scripting -----------------------------------------------------------------

    def script(self, *steps: Step) -> None:
        self.scripts.append(list(steps))

    def gate(self, name: str) -> asyncio.Event:
        return self._gates.setdefault(name, asyncio.Event())

    def open_gate(self, name: str) -> None:
        self.gate(name).set()

    def _next(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter:04d}"

    def add_session(
        self, title: str, exchanges: list[tuple[str, str]], agent: str = "assistant"
    ) -> str:
        sid = self._next("sess")
        self.sessions_data[sid] = SessionInfo(sid, title, "local", agent, CLOCK, CLOCK, 0)
        self.messages_data[sid] = []
        for user, reply in exchanges:
            self._store(sid, "user", user)
            self._store(sid, "assistant", reply, agent=agent, run_id=self._next("run"))
        return sid

    def _store(self, sid: str, role: str, content: str, **kw: Any) -> None:
        self._msg_id += 1
        msgs = self.messages_data.setdefault(sid, [])
        msgs.append(
            SessionMessage(self._msg_id, sid, len(msgs) + 1, role, content, created_at=CLOCK, **kw)
        )
        info = self.sessions_data[sid]
        info.message_count = len(msgs)

    # -- chat ----------------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> FakeTurn:
        self.requests.append(request)
        steps = self.scripts.popleft() if self.scripts else None
        self.turn_finished.clear()
        sid = request.session_id
        if sid is None:
            sid = self._next("sess")
            title = request.title or request.message.strip().splitlines()[0][:40]
            self.sessions_data[sid] = SessionInfo(
                sid, title, "local", request.agent, CLOCK, CLOCK, 0
            )
        elif sid not in self.sessions_data:
            raise NotFoundError(f"no session {sid}", "Pick one from /sessions.")
        run_id = self._next("run")
        return FakeTurn(self, run_id, sid, self._run(request, steps, sid, run_id))

    async def _run(
        self, request: ChatRequest, steps: list[Step] | None, sid: str, run_id: str
    ) -> AsyncIterator[Event]:
        agent = request.agent or "assistant"
        if steps is None:
            steps = [
                Route(
                    agent,
                    "the only agent that fits" if not request.agent else "asked for by name",
                    "single",
                ),
                Text(f"You said: {request.message}"),
                Usage(),
            ]
        user_parts: list[Part] = [TextPart(request.message)]
        for att in request.attachments:
            if att.media_id is not None:
                ref, _ = await self.get_media(att.media_id, user_id=request.user_id)
                self.media_gets.pop()
                user_parts.append(media_part(ref))
                self.session_files.setdefault(sid, []).append(ref.id)
        self._store(sid, "user", request.message, parts=user_parts)
        text: list[str] = []
        try:
            yield self._event("run.started", run_id, sid, agent=agent, user_id="local")
            failed = False
            async for event in self._play(steps, run_id, sid, text, parent=None):
                if event.type == "run.failed" and not event.nested:
                    failed = True
                yield event
            if not failed:
                yield self._event(
                    "run.completed", run_id, sid, text="".join(text), duration_ms=1234
                )
                self.completed_agents.append(agent)
            self._store(sid, "assistant", "".join(text), agent=agent, run_id=run_id)
        except (GeneratorExit, asyncio.CancelledError):
            self.closed_runs.append(run_id)
            self._store(
                sid, "assistant", "".join(text), agent=agent, run_id=run_id, status="cancelled"
            )
            raise
        finally:
            self.turn_finished.set()

    async def _play(
        self, steps: list[Step], run_id: str, sid: str, text: list[str], parent: str | None
    ) -> AsyncIterator[Event]:
        extra = {"parent_run_id": parent, "depth": 1} if parent else {}
        for step in steps:
            if isinstance(step, Text):
                for piece in _split(step.text, step.chunks):
                    text.append(piece)
                    yield self._event("text.delta", run_id, sid, text=piece, **extra)
            elif isinstance(step, Route):
                yield self._event(
                    "agent.routed",
                    run_id,
                    sid,
                    agent=step.agent,
                    reason=step.reason,
                    cached=False,
                    method=step.method,
                    **extra,
                )
            elif isinstance(step, Memories):
                yield self._event("memory.recalled", run_id, sid, items=step.items, **extra)
            elif isinstance(step, Tool):
                async for event in self._tool(step, run_id, sid, extra):
                    yield event
            elif isinstance(step, Usage):
                yield self._event(
                    "usage",
                    run_id,
                    sid,
                    model=step.model,
                    input_tokens=step.input_tokens,
                    output_tokens=step.output_tokens,
                    cost_usd=step.cost_usd,
                    **extra,
                )
            elif isinstance(step, Fail):
                yield self._event(
                    "run.failed",
                    run_id,
                    sid,
                    error={"code": step.code, "message": step.message, "hint": step.hint},
                    **extra,
                )
            elif isinstance(step, Raise):
                raise step.error
            elif isinstance(step, Gate):
                await self.gate(step.name).wait()
            elif isinstance(step, Raw):
                yield self._event(step.type, run_id, sid, **step.fields)
            elif isinstance(step, Delegate):
                child = self._next("run")
                child_extra = {"parent_run_id": run_id, "depth": 1}
                yield self._event(
                    "run.started", child, sid, agent=step.agent, user_id="local", **child_extra
                )
                child_text: list[str] = []
                async for event in self._play(step.steps, child, sid, child_text, parent=run_id):
                    yield event
                yield self._event(
                    "run.completed",
                    child,
                    sid,
                    text="".join(child_text),
                    duration_ms=321,
                    **child_extra,
                )

    async def _tool(
        self, step: Tool, run_id: str, sid: str, extra: dict[str, Any]
    ) -> AsyncIterator[Event]:
        call_id = step.call_id or self._next("call")
        yield self._event(
            "tool.requested",
            run_id,
            sid,
            call_id=call_id,
            server=step.server,
            tool=step.tool,
            arguments=step.arguments,
            **extra,
        )
        decision = "allow"
        if step.approval == "ask":
            future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._pending[call_id] = future
            yield self._event(
                "tool.approval",
                run_id,
                sid,
                call_id=call_id,
                decision="pending",
                by="policy",
                **extra,
            )
            self.approval_waiting.set()
            decision = await future
            self.approval_waiting.clear()
            by = "user"
        elif step.approval == "deny":
            decision, by = "deny", "policy"
        else:
            by = "policy"
        allowed = decision in ("allow", "always")
        yield self._event(
            "tool.approval",
            run_id,
            sid,
            call_id=call_id,
            decision="allowed" if allowed else "denied",
            by=by,
            **extra,
        )
        if allowed:
            content = step.result
            inner: list[Any] = [TextPart(step.result)]
            for data in step.images:
                ref = await self.put_media(data, name="tool.png")
                content += f"\n[image: {ref.media_type}, {ref.size} bytes]"
                inner.append(ImagePart(ref))
                self.session_files.setdefault(sid, []).append(ref.id)
            if step.images:
                self._store(
                    sid,
                    "tool",
                    content,
                    tool_call_id=call_id,
                    parts=[ToolResultPart(call_id, tuple(inner))],
                )
            yield self._event(
                "tool.result",
                run_id,
                sid,
                call_id=call_id,
                ok=step.ok,
                content=content,
                duration_ms=step.duration_ms,
                **extra,
            )
        else:
            yield self._event(
                "tool.result",
                run_id,
                sid,
                call_id=call_id,
                ok=False,
                content=f"denied by {by}",
                duration_ms=0,
                **extra,
            )

    def _event(self, type_: str, run_id: str, sid: str, **fields: Any) -> Event:
        return from_fields(type_, run_id, sid, ts=CLOCK, **fields)

    def _answer(self, run_id: str, call_id: str, decision: ApprovalDecision) -> None:
        self.approvals.append((call_id, decision))
        future = self._pending.pop(call_id, None)
        if future is None:
            raise NotFoundError(f"no pending approval {call_id}", "It was answered already.")
        if not future.done():
            future.set_result(decision)

    async def whoami(self) -> dict[str, Any]:
        if self.role is None:
            raise NotFoundError("no /v1/me on this server", "Upgrade the server.")
        return {"key_id": "key_1", "role": self.role, "user_id": "alice"}

    # -- the rest of the protocol ------------------------------------------------------

    async def agents(self) -> list[AgentInfo]:
        return list(self.agent_list)

    async def sessions(
        self, user_id: str | None = None, query: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        found = list(self.sessions_data.values())
        if query:
            q = query.lower()
            found = [
                s
                for s in found
                if q in s.title.lower()
                or any(q in m.content.lower() for m in self.messages_data.get(s.id, []))
            ]
        return list(reversed(found))[:limit]

    async def session(self, session_id: str) -> SessionInfo:
        try:
            return self.sessions_data[session_id]
        except KeyError:
            raise NotFoundError(f"no session {session_id}", "List them with /sessions.") from None

    async def messages(self, session_id: str) -> list[SessionMessage]:
        await self.session(session_id)
        return list(self.messages_data.get(session_id, []))

    async def rename_session(self, session_id: str, title: str) -> SessionInfo:
        info = await self.session(session_id)
        info.title = title
        return info

    async def delete_session(self, session_id: str) -> None:
        await self.session(session_id)
        del self.sessions_data[session_id]
        self.messages_data.pop(session_id, None)

    async def export_session(self, session_id: str, fmt: Literal["md", "json"]) -> str:
        info = await self.session(session_id)
        msgs = self.messages_data.get(session_id, [])
        if fmt == "json":
            return json.dumps(
                {"session": info.to_dict(), "messages": [m.to_dict() for m in msgs]}, indent=2
            )
        lines = [f"# {info.title}", ""]
        for m in msgs:
            lines += [f"## {m.role}", "", m.content, ""]
        return "\n".join(lines)

    async def timeline(self, session_id: str, user_id: str | None = None) -> list[TimelineTurn]:
        info = await self.session(session_id)
        return turns_of(list(self.messages_data.get(info.id, [])))

    async def memory_list(
        self,
        user_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        agent: str | None = None,
    ) -> list[MemoryItem]:
        return [m for m in self.memories if kind is None or m.kind == kind][:limit]

    async def memory_search(
        self, query: str, user_id: str | None = None, kind: str | None = None, limit: int = 10
    ) -> list[MemoryItem]:
        q = query.lower()
        return [
            MemoryItem(**{**m.to_dict(), "score": 0.9})
            for m in self.memories
            if q in m.text.lower()
        ][:limit]

    async def memory_add(
        self,
        text: str,
        user_id: str | None = None,
        kind: str = "fact",
        replaces: list[str] | None = None,
    ) -> MemoryItem:
        item = MemoryItem(self._next("mem"), "local", kind, text, CLOCK)
        self.memories.append(item)
        return item

    async def memory_get(self, memory_id: str, user_id: str | None = None) -> MemoryItem:
        for m in self.memories:
            if m.id == memory_id:
                return m
        raise NotFoundError(f"no memory {memory_id}", "List them with /memory.")

    async def memory_forget(self, memory_id: str, user_id: str | None = None) -> None:
        before = len(self.memories)
        self.memories = [m for m in self.memories if m.id != memory_id]
        if len(self.memories) == before:
            raise NotFoundError(f"no memory {memory_id}", "List them with /memory.")

    async def memory_stats(self, user_id: str | None = None) -> MemoryStats:
        return fake_memory_stats(self.memories)

    async def memory_map(
        self, user_id: str | None = None, clusters: int | None = None
    ) -> MemoryMap:
        return fake_memory_map(self.memories)

    async def tools(self, agent: str | None = None) -> list[ToolInfo]:
        return [
            ToolInfo(
                "demo.add", "demo", "add", "Add two numbers", {"type": "object"}, "ask", ["coder"]
            ),
            ToolInfo(
                "calculator",
                "builtin",
                "calculator",
                "Evaluate arithmetic",
                {"type": "object"},
                "allow",
                ["assistant", "coder"],
                kind="builtin",
            ),
        ]

    async def mcp_servers(self) -> list[ServerInfo]:
        return list(self.server_list)

    async def mcp_restart(self, name: str) -> ServerInfo:
        """The server comes back as ``after_restart[name]`` (default: ready, one tool)."""
        found = next((s for s in self.server_list if s.name == name), None)
        if found is None:
            raise NotFoundError(f"no MCP server named {name!r}", "see /mcp")
        self.restarted.append(name)
        after = self.after_restart.get(name) or ServerInfo(
            name, found.transport, "ready", tool_count=1, started_ms=50
        )
        self.server_list = [after if s.name == name else s for s in self.server_list]
        return ServerInfo(name, found.transport, "starting")

    async def health(self) -> Health:
        detail = None if self.model else "no provider key and no local server"
        return Health(
            True, "0.1.0", self.mode, "assistant", self.model, {"fake": bool(self.model)}, detail
        )

    async def stats(
        self, since: str | None = None, by: str = "agent", user_id: str | None = None
    ) -> StatsReport:
        self.stats_calls += 1
        return counted_report(self.completed_agents, since, by, user_id)

    async def live(self, user_id: str | None = None) -> LiveReport:
        self.live_calls += 1
        if self.role == "user":  # a server scopes a user key's answer to its own runs
            return self.live_runs.report("local").without_user_ids()
        return self.live_runs.report(user_id)

    async def aclose(self) -> None:
        self.aclosed = True

    async def prepare(self) -> None:
        self.prepared += 1


class BrokenRuntime(FakeRuntime):
    """A runtime whose every chat fails before the first event."""

    async def chat(self, request: ChatRequest) -> FakeTurn:
        self.requests.append(request)
        raise MuxiError("provider unreachable", "Check your network.")


class FakeTurn(TaskTurn):
    """The fake's turns: the real in-process Turn, which also notes each turn
    stopped before its end (by ``cancel()`` or by closing it) in ``cancelled``."""

    def __init__(
        self, fake: FakeRuntime, run_id: str, sid: str, source: AsyncIterator[Event]
    ) -> None:
        super().__init__(run_id, sid, source, fake._answer, fake.tap)
        self._fake = fake

    def _note_cancel(self) -> None:
        if self.run_id not in self._fake.cancelled:
            self._fake.cancelled.append(self.run_id)

    async def _cancel(self) -> None:
        self._note_cancel()
        await super()._cancel()

    async def _close(self, unfinished: bool) -> None:
        if unfinished:
            self._note_cancel()
        await super()._close(unfinished)
