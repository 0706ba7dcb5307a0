"""The :class:`Runtime` protocol: everything a front end can do with agents.

The records it speaks live in :mod:`muxi_cli.protocol.records`.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from muxi_cli.protocol.live import LiveReport
from muxi_cli.protocol.memstats import MemoryMap, MemoryStats
from muxi_cli.protocol.messages import MediaRef
from muxi_cli.protocol.records import (
    AgentInfo,
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
from muxi_cli.protocol.turn import Turn


@runtime_checkable
class Runtime(Protocol):
    """Everything a front end can do with agents, locally or remotely."""

    #: ``local`` or the connection profile's name.
    label: str

    async def chat(self, request: ChatRequest) -> Turn:
        """Start one turn and return its handle once its run and session ids are
        known (see :class:`~muxi_cli.protocol.turn.Turn`). Cancel, approve and
        close go through the Turn; closing it cancels the turn, what was said is
        kept. A request refused before the turn starts (unknown session) raises."""
        ...

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

    async def timeline(self, session_id: str, user_id: str | None = None) -> list[TimelineTurn]:
        """The session's recorded turns in order (protocol/timeline.py): routing,
        agent, model, outcome, timings, tokens, cost, tool calls, delegates nested.
        ``session_id`` as for :meth:`session` (with ``user_id``: that user's only).
        Remote: ``GET /v1/sessions/{id}/timeline``."""
        ...

    # -- media (docs/media.md) -----------------------------------------------------

    async def put_media(
        self,
        data: bytes,
        *,
        name: str | None = None,
        media_type: str | None = None,
        user_id: str | None = None,
    ) -> MediaRef:
        """Store a file for ``user_id`` and return its reference; a chat request
        then names it by ``Attachment.media_id``. The type comes from the bytes
        (``media_type`` is a claim that must agree with them); images lose
        their metadata first. Bad input raises ``MediaError`` and stores
        nothing. Remote: ``POST /v1/media``."""
        ...

    async def get_media(
        self, media_id: str, *, user_id: str | None = None
    ) -> tuple[MediaRef, bytes]:
        """A stored file of ``user_id`` (another user's is not found)."""
        ...

    async def session_media(self, session_id: str, user_id: str | None = None) -> list[MediaRef]:
        """Every file a session's messages hold, in the order they were sent."""
        ...

    async def transcribe(self, data: bytes, *, media_type: str, name: str | None = None) -> str:
        """Speech to text with the formation's transcription model."""
        ...

    async def speak(self, text: str, *, voice: str | None = None, fmt: str = "mp3") -> bytes:
        """Text to speech (``fmt``: mp3, wav or opus) with the formation's speech
        model, or offline with espeak-ng when none is configured."""
        ...

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
        self,
        text: str,
        user_id: str | None = None,
        kind: str = "fact",
        replaces: list[str] | None = None,
    ) -> MemoryItem:
        """Remember ``text``; ``replaces`` names ``user_id``'s memories it supersedes."""
        ...

    async def memory_get(self, memory_id: str, user_id: str | None = None) -> MemoryItem:
        """One memory by id or unique id prefix (6+ characters), among ``user_id``'s
        memories only (another user's memory is not found, whatever the prefix)."""
        ...

    async def memory_forget(self, memory_id: str, user_id: str | None = None) -> None: ...

    async def memory_stats(self, user_id: str | None = None) -> MemoryStats:
        """``user_id``'s memories by kind, age and decay score, the facts that replaced
        others, and what was recalled when (protocol/memstats.py). Remote:
        ``GET /v1/memory/stats`` (a user key: its own user's only)."""
        ...

    async def memory_map(
        self, user_id: str | None = None, clusters: int | None = None
    ) -> MemoryMap:
        """A 2-D map of ``user_id``'s current memories (their embeddings projected and
        grouped into ``clusters``, chosen from the count when not given). Remote:
        ``GET /v1/memory/map``."""
        ...

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

    async def stats(
        self, since: str | None = None, by: str = "agent", user_id: str | None = None
    ) -> StatsReport:
        """Totals and breakdowns of the recorded runs (protocol/stats.py): since
        ``since`` (``7d``, ``12h``, a date), grouped ``by`` agent, model, user,
        tool or day; every user's, or ``user_id``'s only. Remote: ``GET /v1/stats``
        (a user key sees its own user's only)."""
        ...

    async def live(self, user_id: str | None = None) -> LiveReport:
        """The runs in flight now (protocol/live.py): every user's, or ``user_id``'s
        only. Remote: ``GET /v1/runs/live`` (a user key sees its own runs, without
        user ids)."""
        ...

    async def aclose(self) -> None: ...

    async def prepare(self) -> None:
        """Load now what the first turn would load on first use (a provider's SDK
        and client, the memory store when there are memories), so it starts at
        once; a turn started meanwhile waits for it rather than loading twice.
        Optional to call; may raise what the first turn would (callers that only
        warm up ignore it: the turn reports it)."""
        ...
