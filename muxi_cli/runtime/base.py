"""The :class:`Runtime` protocol and the plain data types it speaks.

Every type here round-trips through ``to_dict``/``from_dict`` so the remote
runtime and the server share them exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from muxi_cli.core.events import Event

ApprovalMode = Literal["interactive", "yes", "deny"]
ApprovalDecision = Literal["allow", "always", "deny"]

T = TypeVar("T", bound="_Record")


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True)
class Attachment(_Record):
    name: str
    content: str
    mime: str = "text/plain"


@dataclass(slots=True)
class ChatRequest(_Record):
    message: str
    agent: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    approval: ApprovalMode = "deny"
    model: str | None = None
    system: str | None = None
    #: Server-side only (never sent by a client): glob patterns of the ``ask``
    #: tools this caller may approve; None = any (see docs/security.md).
    approvable: list[str] | None = None
    stream: bool = True
    #: A new session gets this title (default: from the first message).
    title: str | None = None
    #: The role of the ``muxi serve`` key the turn runs for; the server sets it
    #: (whatever a client sent), ``None`` for in-process turns.
    caller_role: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatRequest:
        data = dict(data)
        data["attachments"] = [
            a if isinstance(a, Attachment) else Attachment.from_dict(a)
            for a in data.get("attachments") or []
        ]
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True)
class AgentInfo(_Record):
    name: str
    description: str
    model: str
    tools: list[str] = field(default_factory=list)
    mcp_servers: list[str] = field(default_factory=list)
    delegates: list[str] = field(default_factory=list)
    memory: bool = True
    knowledge: list[str] = field(default_factory=list)
    default: bool = False
    system_message: str = ""


@dataclass(slots=True)
class SessionInfo(_Record):
    id: str
    title: str
    user_id: str
    agent: str | None
    created_at: str
    updated_at: str
    message_count: int = 0


@dataclass(slots=True)
class SessionMessage(_Record):
    id: int
    session_id: str
    seq: int
    role: str
    content: str
    agent: str | None = None
    run_id: str | None = None
    status: str = "complete"
    created_at: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_call_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class MemoryItem(_Record):
    id: str
    user_id: str
    kind: str
    text: str
    created_at: str
    importance: float = 0.5
    source: str | None = None
    score: float | None = None
    agent: str | None = None
    superseded_by: str | None = None


@dataclass(slots=True)
class ToolInfo(_Record):
    name: str
    server: str
    tool: str
    description: str
    input_schema: dict[str, Any]
    policy: str
    agents: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ServerInfo(_Record):
    name: str
    transport: str
    state: str
    tool_count: int = 0
    started_ms: int | None = None
    error: str | None = None
    #: The server's approval policy (``ask``, ``allow``, ``deny``); None if unknown.
    approval: str | None = None


@dataclass(slots=True)
class Health(_Record):
    ok: bool
    version: str
    mode: Literal["local", "remote"]
    default_agent: str
    model: str | None
    providers: dict[str, bool] = field(default_factory=dict)
    detail: str | None = None


@runtime_checkable
class Runtime(Protocol):
    """Everything a front end can do with agents, locally or remotely."""

    #: ``local`` or the connection profile's name.
    label: str

    def chat(self, request: ChatRequest) -> AsyncIterator[Event]:
        """One turn. Closing the iterator cancels the turn; what was said is kept."""
        ...

    async def approve(
        self, call_id: str, decision: ApprovalDecision, run_id: str | None = None
    ) -> None:
        """Answer a ``tool.approval`` event whose decision was ``pending``.

        ``run_id`` is the event's; it may be left out while ``call_id`` is unique
        among the pending calls (providers may repeat call ids across turns).
        """
        ...

    async def cancel(self, run_id: str) -> None: ...

    async def agents(self) -> list[AgentInfo]: ...

    async def sessions(
        self, user_id: str | None = None, query: str | None = None, limit: int = 50
    ) -> list[SessionInfo]: ...

    async def session(self, session_id: str, user_id: str | None = None) -> SessionInfo:
        """A session by id or unique id prefix; with ``user_id``, only among that
        user's sessions (another user's session is not found, whatever the prefix)."""
        ...

    async def messages(self, session_id: str) -> list[SessionMessage]: ...

    async def rename_session(self, session_id: str, title: str) -> SessionInfo: ...

    async def delete_session(self, session_id: str) -> None: ...

    async def export_session(self, session_id: str, fmt: Literal["md", "json"]) -> str: ...

    async def memory_list(
        self,
        user_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        agent: str | None = None,
    ) -> list[MemoryItem]:
        """Newest first; ``agent`` keeps the memories that agent stored."""
        ...

    async def memory_search(
        self, query: str, user_id: str | None = None, kind: str | None = None, limit: int = 10
    ) -> list[MemoryItem]: ...

    async def memory_add(
        self, text: str, user_id: str | None = None, kind: str = "fact"
    ) -> MemoryItem: ...

    async def memory_get(self, memory_id: str, user_id: str | None = None) -> MemoryItem:
        """One memory by id or unique id prefix (6+ characters), among ``user_id``'s
        memories only (another user's memory is not found, whatever the prefix)."""
        ...

    async def memory_forget(self, memory_id: str, user_id: str | None = None) -> None: ...

    async def tools(self, agent: str | None = None) -> list[ToolInfo]: ...

    async def mcp_servers(self) -> list[ServerInfo]: ...

    async def mcp_attach(
        self, name: str, server: dict[str, Any], agents: list[str] | None = None
    ) -> ServerInfo:
        """Add an MCP server (``{command, args, env}`` or ``{url, headers}``) to the
        running formation without a restart; ``agents`` may use it (default: all)."""
        ...

    async def mcp_detach(self, name: str) -> None: ...

    async def mcp_restart(self, name: str) -> ServerInfo:
        """Stop an MCP server if it runs and start it again (e.g. to retry after a
        failed start); returns its state at once, usually ``starting``."""
        ...

    async def mcp_prompts(self, server: str | None = None) -> list[dict[str, Any]]:
        """Prompts of one MCP server, or of every ready one (each with ``server``)."""
        ...

    async def mcp_get_prompt(
        self, server: str, name: str, arguments: dict[str, str] | None = None
    ) -> str:
        """A prompt rendered to text, e.g. to start a message with it."""
        ...

    async def mcp_resources(self, server: str | None = None) -> list[dict[str, Any]]:
        """Resources of one MCP server, or of every ready one (each with ``server``)."""
        ...

    async def mcp_read_resource(self, server: str, uri: str) -> str:
        """A resource's content as text, e.g. to attach it to a message."""
        ...

    async def health(self) -> Health: ...

    async def aclose(self) -> None: ...
