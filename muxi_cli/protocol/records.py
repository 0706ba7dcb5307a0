"""The plain records every layer speaks: requests, sessions, memories, tools.

Every type here round-trips through ``to_dict``/``from_dict`` so the remote
runtime and the server share them exactly. This is the ground floor
(docs/architecture.md, section 1): it imports nothing else of muxi.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypeVar, get_args

from muxi_cli.protocol.messages import (
    MEDIA_PART_TYPES,
    Part,
    parts_from_list,
    parts_to_list,
)

# The approval vocabulary, defined once; APPROVAL_DECISIONS is for run-time checks.
#: How a turn treats ``ask`` tools: ask the front end, allow, or refuse them.
ApprovalMode = Literal["interactive", "yes", "deny"]
#: A front end's answer to a pending call (``always`` also saves the choice).
ApprovalDecision = Literal["allow", "always", "deny"]
APPROVAL_DECISIONS: tuple[ApprovalDecision, ...] = get_args(ApprovalDecision)
#: A tool's approval policy (config ``approval:`` values, ``ToolInfo.policy``).
ApprovalPolicy = Literal["allow", "deny", "ask"]
#: The ``decision`` of a ``tool.approval`` event.
ApprovalState = Literal["pending", "allowed", "denied"]

#: Where a tool comes from; dispatch and approval defaults key on this, never
#: on the server name (an MCP server may be called ``builtin`` or ``agent``).
#: ``memory``: the engine's own ``memory_search`` (muxi_cli/core/memory_tool.py).
ToolKind = Literal["mcp", "python", "builtin", "delegate", "memory"]
TOOL_KINDS: tuple[ToolKind, ...] = get_args(ToolKind)
#: The ``server`` shown for tools that have no MCP server (display only).
KIND_SOURCES: dict[str, str] = {"python": "python", "builtin": "builtin", "delegate": "agent"}

T = TypeVar("T", bound="_Record")

#: Field metadata of a record field the server sets and a client may never send:
#: the server's request body (server/models.py) leaves such fields out.
SERVER_ONLY: dict[str, bool] = {"server_only": True}


def client_fields(cls: type[Any]) -> list[Any]:
    """The dataclass fields of ``cls`` a client may send (not :data:`SERVER_ONLY`)."""
    return [f for f in fields(cls) if not f.metadata.get("server_only")]


def known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the keys dataclass ``cls`` has no field for (a newer peer's extras)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        return cls(**known_fields(cls, data))


@dataclass(slots=True)
class Attachment(_Record):
    """A file sent with a message. ``content`` is the text for ``text/*`` (and
    JSON, XML, ...) types and base64 for any other type (an image, a PDF)."""

    name: str
    content: str = ""
    mime: str = "text/plain"
    #: Media already stored (``POST /v1/media`` on a server, the local media
    #: store in process): the message refers to it instead of carrying bytes.
    #: ``content`` is then empty and ``mime`` is the stored media's type.
    media_id: str | None = None


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
    approvable: list[str] | None = field(default=None, metadata=SERVER_ONLY)
    stream: bool = True
    #: A new session gets this title (default: from the first message).
    title: str | None = None
    #: The role of the ``muxi serve`` key the turn runs for; the server sets it
    #: (whatever a client sent), ``None`` for in-process turns.
    caller_role: str | None = field(default=None, metadata=SERVER_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatRequest:
        data = dict(data)
        data["attachments"] = [
            a if isinstance(a, Attachment) else Attachment.from_dict(a)
            for a in data.get("attachments") or []
        ]
        return cls(**known_fields(cls, data))


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
    """One stored message. ``parts`` is its content (protocol/messages.py);
    ``content`` is the text of those parts, kept for search, text-only front
    ends and clients older than parts. ``tool_calls``/``tool_call_id`` repeat
    the tool call and tool result parts in the shape older readers know."""

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
    parts: list[Part] = field(default_factory=list)

    def display_text(self) -> str:
        """What a text-only front end shows: the text, then a placeholder such as
        ``[image: dot.png, image/png, 70 bytes]`` per attached media part (a tool
        result's text already names its images)."""
        shown = [self.content] if self.content else []
        for part in self.parts:
            if isinstance(part, MEDIA_PART_TYPES):
                shown.append(part.placeholder())
        return "\n".join(shown)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "parts"}
        out["tool_calls"] = [dict(c) for c in self.tool_calls]
        out["meta"] = dict(self.meta)
        out["parts"] = parts_to_list(self.parts)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionMessage:
        kwargs = known_fields(cls, data)
        # A newer server's part types are skipped: ``content`` still has the text.
        kwargs["parts"] = parts_from_list(data.get("parts") or [], lenient=True)
        return cls(**kwargs)


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
    #: Whose fact: ``user`` or a relation (``spouse``, ``manager``...).
    subject: str | None = None
    #: Date tokens the fact mentions (``2026-03-01``, ``2026-03``, ``--06-12`` yearly).
    dates: list[str] = field(default_factory=list)
    #: When the fact started / stopped holding, if known (ISO 8601).
    valid_from: str = ""
    valid_until: str = ""
    #: Short questions the fact answers (written at extraction).
    questions: list[str] = field(default_factory=list)
    #: Filled by ``memory_get`` only: the versions this memory replaced and the ones
    #: that replaced it, newest first, each ``{"id", "text", "created_at"}``.
    replaced: list[dict[str, str]] = field(default_factory=list)
    replaced_by: list[dict[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class ToolInfo(_Record):
    name: str
    #: The MCP server's name, or ``builtin``/``python``/``agent`` (display only).
    server: str
    tool: str
    description: str
    input_schema: dict[str, Any]
    policy: ApprovalPolicy
    agents: list[str] = field(default_factory=list)
    kind: ToolKind = "mcp"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolInfo:
        data = dict(data)
        if data.get("kind") not in TOOL_KINDS:
            # A server from before tool kinds: its source names were the kinds.
            legacy = {v: k for k, v in KIND_SOURCES.items()}
            data["kind"] = legacy.get(str(data.get("server")), "mcp")
        return cls(**known_fields(cls, data))


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
    #: OAuth state of a remote server: ``oauth: signed in``, ``oauth: login required``
    #: (run ``muxi mcp login NAME``); None when the server asked for no OAuth.
    auth: str | None = None


@dataclass(slots=True)
class Health(_Record):
    ok: bool
    version: str
    mode: Literal["local", "remote"]
    default_agent: str
    model: str | None
    providers: dict[str, bool] = field(default_factory=dict)
    detail: str | None = None
