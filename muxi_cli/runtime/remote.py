"""``RemoteRuntime``: the :class:`Runtime` protocol spoken to a ``muxi serve``.

Plain calls use HTTP (:class:`~muxi_cli.runtime.client.ServerClient`: httpx over
TCP, a standard-library client over a local host's Unix socket). Turns use SSE, except turns with interactive
approval, which run over one reused WebSocket so approvals and cancels travel
on the same connection (:mod:`muxi_cli.runtime.remote_ws`). A dropped WebSocket
is re-opened with backoff; the user is told through ``on_notice`` (default: the
``muxi.remote`` logger), and a turn lost with the connection ends with
``run.failed`` / ``connection_failed``. A broken SSE stream is resumed from
its last event id (:mod:`muxi_cli.runtime.remote_sse`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from muxi_cli.errors import ServerAuthError
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
from muxi_cli.runtime.client import ServerClient, check_ready
from muxi_cli.runtime.profiles import API_KEY_ENV, URL_ENV, URL_PROFILE, get_profile, profile_key
from muxi_cli.runtime.remote_sse import RESUME_ATTEMPTS, SSETurn, start_with_retries
from muxi_cli.runtime.remote_ws import WebSocketTurns
from muxi_cli.runtime.turns import StreamTurn
from muxi_cli.runtime.wire import (
    IDEMPOTENCY_HEADER,
    MEDIA_MAX_BYTES,
    SSE_MEDIA,
    Timeout,
    connection_error,
    turn_key,
    unix_target,
)

log = logging.getLogger("muxi.remote")


def _q(value: str) -> str:
    """A path segment, quoted (ids come from users)."""

    return quote(str(value), safe="") or "-"


class RemoteRuntime:
    """A runtime behind a muxi server at ``url``, authenticated with ``api_key``.

    With ``uds`` (or a ``unix:/path`` URL), HTTP and WebSocket traffic goes over
    the Unix domain socket at that path (a local host) and ``url`` only names
    the server (``http://muxi-host``); everything else is the same.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        label: str = "remote",
        on_notice: Callable[[str], None] | None = None,
        timeout: float = 30.0,
        reconnect_attempts: int = 6,
        resume_attempts: int = RESUME_ATTEMPTS,
        uds: Path | None = None,
    ) -> None:
        url, uds = unix_target(url, uds)
        self.url = url.rstrip("/")
        self.uds = uds
        self.label = label
        self._timeout = timeout
        #: Tries to resume a turn's broken SSE stream (``GET /v1/runs/{id}/events``).
        self.resume_attempts = resume_attempts
        self._notice = on_notice or (lambda msg: log.warning("%s", msg))
        #: The HTTP client for everything but WebSocket turns (shared with `muxi keys`/`profile`).
        self._server = ServerClient(self.url, api_key, timeout=timeout, uds=uds)
        # A server of another API major is a clear error: on every answer, and on
        # a new WebSocket before the chat frame is sent (nothing reaches it).
        self._server.check_versions = True
        self._ws_turns = WebSocketTurns(
            self.url,
            label,
            self._headers,
            lambda msg: self._notice(msg),
            reconnect_attempts,
            uds=uds,
        )
        self._ws_turns.check_ready = lambda ready: check_ready(ready, self._server.where)

    def set_notice_handler(self, on_notice: Callable[[str], None]) -> None:
        """Where connection diagnostics go ("reconnecting ...", "lost the connection").

        The default logs them as warnings on the ``muxi.remote`` logger; a
        full-screen app should show them in place instead.
        """
        self._notice = on_notice

    @classmethod
    async def open_profile(cls, name: str, **kw: Any) -> RemoteRuntime:
        """The runtime of a connection profile (its key from the keyring or ``MUXI_API_KEY``)."""

        profile = get_profile(name)
        key, _source = profile_key(name)
        if not key and name == URL_PROFILE:
            raise ServerAuthError(
                f"no API key for the server {URL_ENV} names ({profile.url})",
                hint=f"set {API_KEY_ENV} to a key of that server",
            )
        if not key:
            raise ServerAuthError(
                f"no API key stored for profile {name!r}",
                hint=f"run `muxi profile add {name} --url {profile.url}` again, or set MUXI_API_KEY",
            )
        # A server named by MUXI_URL shows as its URL (the chat app's status bar).
        return cls(profile.url, key, label=profile.url if name == URL_PROFILE else name, **kw)

    # -- HTTP ----------------------------------------------------------------------

    def _headers(self, user_id: str | None = None) -> dict[str, str]:
        return self._server.headers(user_id)

    # -- turns ---------------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> StreamTurn:
        """Start a turn; returns once the server acknowledged it with its ids
        (the SSE response's headers, or the first WebSocket frame)."""
        if request.approval == "interactive":
            body = self._body(request)
            if request.user_id:
                body["user_id"] = request.user_id
            return await self._ws_turns.chat(request, body)
        return await self._chat_sse(request)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body = request.to_dict()
        body.pop("approvable", None)  # decided by the server from the key's scopes
        body.pop("user_id", None)
        body.pop("caller_role", None)  # the server decides it from the key
        return body

    async def _chat_sse(self, request: ChatRequest) -> SSETurn:
        # One key for every try of this start: a repeat the server already took
        # attaches to that turn instead of running it twice.
        headers = {"accept": SSE_MEDIA, IDEMPOTENCY_HEADER: turn_key()}
        resp = await start_with_retries(
            lambda: self._server.stream(
                "POST",
                "/v1/chat",
                user_id=request.user_id,
                json_body=self._body(request),
                headers=headers,
                timeout=Timeout(self._timeout, connect=10.0, read=120.0),
            ),
            self.resume_attempts,
            keyed=True,
            keeps_keys=lambda: self._server.keeps_turn_keys,
        )
        try:
            turn = SSETurn(self, resp, request.session_id or "", self.resume_attempts)
            await turn.begin()
        except BaseException as exc:
            await resp.aclose()
            if isinstance(exc, self._server.errors):
                raise connection_error(self._server.where, exc) from exc
            raise
        return turn

    # -- everything else -------------------------------------------------------------

    async def agents(self) -> list[AgentInfo]:
        return [AgentInfo.from_dict(a) for a in await self._server.request("GET", "/v1/agents")]

    async def sessions(
        self, user_id: str | None = None, query: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        data = await self._server.request(
            "GET", "/v1/sessions", user_id=user_id, params={"query": query, "limit": limit}
        )
        return [SessionInfo.from_dict(s) for s in data]

    async def session(self, session_id: str, user_id: str | None = None) -> SessionInfo:
        data = await self._server.request("GET", f"/v1/sessions/{_q(session_id)}", user_id=user_id)
        return SessionInfo.from_dict(data)

    async def messages(self, session_id: str) -> list[SessionMessage]:
        data = await self._server.request("GET", f"/v1/sessions/{_q(session_id)}/messages")
        return [SessionMessage.from_dict(m) for m in data]

    async def rename_session(self, session_id: str, title: str) -> SessionInfo:
        data = await self._server.request(
            "PATCH", f"/v1/sessions/{_q(session_id)}", json_body={"title": title}
        )
        return SessionInfo.from_dict(data)

    async def delete_session(self, session_id: str) -> None:
        await self._server.request("DELETE", f"/v1/sessions/{_q(session_id)}")

    async def export_session(self, session_id: str, fmt: Literal["md", "json"]) -> str:
        data = await self._server.request(
            "GET", f"/v1/sessions/{_q(session_id)}/export", params={"format": fmt}
        )
        return str(data["content"])

    async def timeline(self, session_id: str, user_id: str | None = None) -> list[TimelineTurn]:
        data = await self._server.request(
            "GET", f"/v1/sessions/{_q(session_id)}/timeline", user_id=user_id
        )
        return [TimelineTurn.from_dict(t) for t in data.get("turns") or []]

    # -- media ---------------------------------------------------------------------

    #: What the CLI checks attachments against before uploading; the server's own
    #: limit may be lower (it answers 413, ``media_too_large``).
    media_max_bytes = MEDIA_MAX_BYTES

    async def put_media(
        self,
        data: bytes,
        *,
        name: str | None = None,
        media_type: str | None = None,
        user_id: str | None = None,
    ) -> MediaRef:
        """``POST /v1/media``, multipart: the file in field ``file``, the claimed
        type (if any) in form field ``media_type``; the server decides the type."""
        # An upload may take longer than a plain call: the write timeout follows the size.
        seconds = self._timeout + len(data) / (256 * 1024)
        answer = await self._server.request(
            "POST",
            "/v1/media",
            user_id=user_id,
            files={"file": (name or "upload", data, media_type or "application/octet-stream")},
            form={"media_type": media_type},
            timeout=Timeout(seconds, connect=10.0),
        )
        return MediaRef.from_dict(answer)

    async def get_media(
        self, media_id: str, *, user_id: str | None = None
    ) -> tuple[MediaRef, bytes]:
        info = await self._server.request("GET", f"/v1/media/{_q(media_id)}/info", user_id=user_id)
        data = await self._server.fetch("GET", f"/v1/media/{_q(media_id)}", user_id=user_id)
        return MediaRef.from_dict(info), data

    async def session_media(self, session_id: str, user_id: str | None = None) -> list[MediaRef]:
        data = await self._server.request(
            "GET", f"/v1/sessions/{_q(session_id)}/media", user_id=user_id
        )
        return [MediaRef.from_dict(m) for m in data]

    async def transcribe(self, data: bytes, *, media_type: str, name: str | None = None) -> str:
        from muxi_cli.runtime import remote_audio  # deferred: only audio needs it

        return await remote_audio.transcribe(self._server, data, media_type, name)

    async def speak(self, text: str, *, voice: str | None = None, fmt: str = "mp3") -> bytes:
        from muxi_cli.runtime import remote_audio  # deferred: only audio needs it

        return await remote_audio.speak(self._server, text, voice, fmt)

    async def memory_list(
        self,
        user_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        agent: str | None = None,
    ) -> list[MemoryItem]:
        params = {"kind": kind, "limit": limit, "agent": agent}
        data = await self._server.request("GET", "/v1/memory", user_id=user_id, params=params)
        return [MemoryItem.from_dict(m) for m in data]

    async def memory_search(
        self, query: str, user_id: str | None = None, kind: str | None = None, limit: int = 10
    ) -> list[MemoryItem]:
        data = await self._server.request(
            "GET",
            "/v1/memory/search",
            user_id=user_id,
            params={"q": query, "kind": kind, "limit": limit},
        )
        return [MemoryItem.from_dict(m) for m in data]

    async def memory_add(
        self,
        text: str,
        user_id: str | None = None,
        kind: str = "fact",
        replaces: list[str] | None = None,
    ) -> MemoryItem:
        body: dict[str, Any] = {"text": text, "kind": kind}
        if replaces:
            body["replaces"] = replaces  # only when given: an older server refuses the field
        data = await self._server.request("POST", "/v1/memory", user_id=user_id, json_body=body)
        return MemoryItem.from_dict(data)

    async def memory_get(self, memory_id: str, user_id: str | None = None) -> MemoryItem:
        data = await self._server.request("GET", f"/v1/memory/{_q(memory_id)}", user_id=user_id)
        return MemoryItem.from_dict(data)

    async def memory_forget(self, memory_id: str, user_id: str | None = None) -> None:
        await self._server.request("DELETE", f"/v1/memory/{_q(memory_id)}", user_id=user_id)

    async def memory_stats(self, user_id: str | None = None) -> MemoryStats:
        data = await self._server.request("GET", "/v1/memory/stats", user_id=user_id)
        return MemoryStats.from_dict(data)

    async def memory_map(
        self, user_id: str | None = None, clusters: int | None = None
    ) -> MemoryMap:
        params = {"clusters": clusters}
        data = await self._server.request("GET", "/v1/memory/map", user_id=user_id, params=params)
        return MemoryMap.from_dict(data)

    async def tools(self, agent: str | None = None) -> list[ToolInfo]:
        data = await self._server.request("GET", "/v1/tools", params={"agent": agent})
        return [ToolInfo.from_dict(t) for t in data]

    async def mcp_servers(self) -> list[ServerInfo]:
        return [
            ServerInfo.from_dict(s) for s in await self._server.request("GET", "/v1/mcp/servers")
        ]

    async def mcp_attach(
        self, name: str, server: dict[str, Any], agents: list[str] | None = None
    ) -> ServerInfo:
        body = {"name": name, "server": server, "agents": agents}
        return ServerInfo.from_dict(
            await self._server.request("POST", "/v1/mcp/servers", json_body=body)
        )

    async def mcp_detach(self, name: str) -> None:
        await self._server.request("DELETE", f"/v1/mcp/servers/{_q(name)}")

    async def mcp_restart(self, name: str) -> ServerInfo:
        data = await self._server.request("POST", f"/v1/mcp/servers/{_q(name)}/restart")
        return ServerInfo.from_dict(data)

    async def mcp_prompts(self, server: str | None = None) -> list[dict[str, Any]]:
        return list(await self._server.request("GET", "/v1/mcp/prompts", params={"server": server}))

    async def mcp_get_prompt(
        self, server: str, name: str, arguments: dict[str, str] | None = None
    ) -> str:
        body = {"server": server, "name": name, "arguments": arguments or {}}
        data = await self._server.request("POST", "/v1/mcp/prompts/render", json_body=body)
        return str(data["text"])

    async def mcp_resources(self, server: str | None = None) -> list[dict[str, Any]]:
        return list(
            await self._server.request("GET", "/v1/mcp/resources", params={"server": server})
        )

    async def mcp_read_resource(self, server: str, uri: str) -> str:
        params = {"server": server, "uri": uri}
        data = await self._server.request("GET", "/v1/mcp/resources/read", params=params)
        return str(data["text"])

    async def health(self) -> Health:
        data = await self._server.request("GET", "/v1/health")
        health = Health.from_dict(data)
        health.mode = "remote"
        return health

    async def stats(
        self, since: str | None = None, by: str = "agent", user_id: str | None = None
    ) -> StatsReport:
        params = {"since": since, "by": by, "user": user_id}
        return StatsReport.from_dict(await self._server.request("GET", "/v1/stats", params=params))

    async def live(self, user_id: str | None = None) -> LiveReport:
        params = {"user": user_id}
        return LiveReport.from_dict(
            await self._server.request("GET", "/v1/runs/live", params=params)
        )

    async def whoami(self) -> dict[str, Any]:
        """The key's id, role and user as the server sees them."""
        return dict(await self._server.request("GET", "/v1/me"))

    async def aclose(self) -> None:
        await self._ws_turns.aclose()
        await self._server.aclose()

    async def prepare(self) -> None:
        """Nothing to load here: the server holds the agents (and warms itself)."""
