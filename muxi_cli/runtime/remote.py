"""``RemoteRuntime``: the :class:`Runtime` protocol spoken to a ``muxi serve``.

Plain calls use HTTP (httpx). Turns use SSE, except turns with interactive
approval, which run over one reused WebSocket so approvals and cancels travel
on the same connection. A dropped WebSocket is re-opened with backoff; the
user is told through ``on_notice`` (default: the ``muxi.remote`` logger), and a
turn lost with the connection ends with ``run.failed`` / ``connection_failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli.core.events import RUN_COMPLETED, RUN_FAILED, TOOL_APPROVAL, Event, decode, new_id
from muxi_cli.errors import ConnectionFailedError, MuxiError, ServerAuthError
from muxi_cli.runtime.base import (
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
from muxi_cli.runtime.wire import SSE_MEDIA, connection_error, error_from_body, iter_sse

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("muxi.remote")

#: Seconds between WebSocket reconnect attempts (the last one is repeated).
BACKOFF = (0.2, 0.5, 1.0, 2.0, 4.0)


def _q(value: str) -> str:
    """A path segment, quoted (ids come from users)."""
    from urllib.parse import quote

    return quote(str(value), safe="") or "-"


class RemoteRuntime:
    """A runtime behind a muxi server at ``url``, authenticated with ``api_key``."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        label: str = "remote",
        on_notice: Callable[[str], None] | None = None,
        timeout: float = 30.0,
        reconnect_attempts: int = 6,
    ) -> None:
        self.url = url.rstrip("/")
        self.label = label
        self._key = api_key
        self._timeout = timeout
        self._notice = on_notice or (lambda msg: log.warning("%s", msg))
        self._attempts = max(1, reconnect_attempts)
        self._client: httpx.AsyncClient | None = None
        self._ws: Any = None
        self._ws_lock = asyncio.Lock()
        self._ws_connected_once = False
        self._ws_run: str | None = None
        self._ws_calls: set[str] = set()

    def set_notice_handler(self, on_notice: Callable[[str], None]) -> None:
        """Where connection diagnostics go ("reconnecting ...", "lost the connection").

        The default logs them as warnings on the ``muxi.remote`` logger; a
        full-screen app should show them in place instead.
        """
        self._notice = on_notice

    @classmethod
    async def open_profile(cls, name: str, **kw: Any) -> RemoteRuntime:
        """The runtime of a connection profile (its key from the keyring or ``MUXI_API_KEY``)."""
        from muxi_cli.runtime.profiles import get_profile, profile_key

        profile = get_profile(name)
        key, _source = profile_key(name)
        if not key:
            raise ServerAuthError(
                f"no API key stored for profile {name!r}",
                hint=f"run `muxi profile add {name} --url {profile.url}` again, or set MUXI_API_KEY",
            )
        return cls(profile.url, key, label=name, **kw)

    # -- HTTP ----------------------------------------------------------------------

    def _headers(self, user_id: str | None = None) -> dict[str, str]:
        headers = {"user-agent": "muxi-remote"}
        if self._key:
            headers["authorization"] = f"Bearer {self._key}"
        if user_id:
            headers["x-muxi-user-id"] = user_id
        return headers

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                base_url=self.url,
                headers=self._headers(),
                timeout=httpx.Timeout(self._timeout, connect=10.0),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=20),
            )
        return self._client

    async def _call(
        self,
        method: str,
        path: str,
        *,
        user_id: str | None = None,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        import httpx

        clean = {k: v for k, v in (params or {}).items() if v is not None}
        headers = {"x-muxi-user-id": user_id} if user_id else None
        try:
            resp = await self._http().request(
                method,
                path,
                json=json_body,
                params=clean,
                headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except httpx.HTTPError as exc:
            raise connection_error(self.url, exc) from exc
        if resp.status_code >= 400:
            raise error_from_body(resp.status_code, resp.content, self.url)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise MuxiError(
                f"the server at {self.url} sent a non-JSON answer",
                hint="is this URL a muxi server?",
            ) from exc

    # -- turns ---------------------------------------------------------------------

    def chat(self, request: ChatRequest) -> AsyncIterator[Event]:
        if request.approval == "interactive":
            return self._chat_ws(request)
        return self._chat_sse(request)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body = request.to_dict()
        body.pop("user_id", None)
        return body

    async def _chat_sse(self, request: ChatRequest) -> AsyncIterator[Event]:
        import httpx

        headers = {"accept": SSE_MEDIA}
        if request.user_id:
            headers["x-muxi-user-id"] = request.user_id
        run_id, session_id, ended = "", request.session_id or "", False
        try:
            async with self._http().stream(
                "POST",
                "/v1/chat",
                json=self._body(request),
                headers=headers,
                timeout=httpx.Timeout(self._timeout, connect=10.0, read=120.0),
            ) as resp:
                if resp.status_code >= 400:
                    raise error_from_body(resp.status_code, await resp.aread(), self.url)
                async for data in iter_sse(resp.aiter_lines()):
                    try:
                        event = decode(data)
                    except ValueError:
                        continue
                    if not event.nested:
                        run_id = run_id or event.run_id
                        session_id = event.session_id or session_id
                        ended = ended or event.type in (RUN_COMPLETED, RUN_FAILED)
                    yield event
        except httpx.HTTPError as exc:
            if not run_id:
                raise connection_error(self.url, exc) from exc
            ended = False
            self._notice(f"lost the connection to {self.label} during a turn: {exc}")
        if not ended and run_id:
            yield self._lost(run_id, session_id)

    def _lost(self, run_id: str, session_id: str) -> Event:
        return Event(
            type=RUN_FAILED,
            run_id=run_id or new_id("run"),
            session_id=session_id,
            payload={
                "error": {
                    "code": ConnectionFailedError.code,
                    "message": f"the connection to {self.label} was lost; the turn was interrupted",
                    "hint": "what the agent said so far is saved on the server; send the message again",
                }
            },
        )

    async def _connect_ws(self) -> Any:
        from websockets.asyncio.client import connect

        ws_url = "ws" + self.url[len("http") :] + "/v1/ws"
        ws = await connect(
            ws_url,
            additional_headers=self._headers(),
            open_timeout=10,
            max_size=16 * 1024 * 1024,
            ping_interval=20,
            ping_timeout=20,
        )
        try:
            raw = await asyncio.wait_for(ws.recv(), 10)
            frame = json.loads(raw)
        except BaseException:
            await ws.close()
            raise
        if frame.get("type") == "error":
            await ws.close()
            raise MuxiError.from_dict(frame.get("error") or {})
        return ws

    async def _ensure_ws(self) -> Any:
        from websockets.protocol import State

        if self._ws is not None and self._ws.state is State.OPEN:
            return self._ws
        reconnecting = self._ws_connected_once
        self._ws = None
        if reconnecting:
            self._notice(f"reconnecting to {self.label} ({self.url}) ...")
        last: BaseException | None = None
        for attempt in range(self._attempts):
            try:
                self._ws = await self._connect_ws()
            except MuxiError:
                raise
            except (OSError, TimeoutError, Exception) as exc:
                last = exc
                if attempt + 1 < self._attempts:
                    delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
                    self._notice(
                        f"cannot reach {self.label} ({type(exc).__name__}); "
                        f"retrying in {delay:g}s (attempt {attempt + 2}/{self._attempts})"
                    )
                    await asyncio.sleep(delay)
                continue
            if reconnecting:
                self._notice(f"reconnected to {self.label}")
            self._ws_connected_once = True
            return self._ws
        assert last is not None
        raise connection_error(self.url, last)

    async def _send_turn(self, frame: dict[str, Any]) -> tuple[Any, str | bytes]:
        """Send a chat frame and read the first answer frame.

        A reused connection may have died while idle (server restarted): then
        reconnect once and send again, since the server never saw the turn.
        """
        from websockets.exceptions import ConnectionClosed

        for attempt in range(2):
            previous = self._ws
            ws = await self._ensure_ws()
            fresh = ws is not previous
            try:
                await ws.send(json.dumps(frame))
                return ws, await ws.recv()
            except ConnectionClosed:
                self._ws = None
                if fresh or attempt:
                    raise ConnectionFailedError(
                        f"the connection to {self.label} closed before the turn started",
                        hint="try again; `muxi profile test` checks the server",
                    ) from None
                self._notice(f"the connection to {self.label} was closed while idle")
        raise AssertionError("unreachable")  # pragma: no cover

    async def _chat_ws(self, request: ChatRequest) -> AsyncIterator[Event]:
        from websockets.exceptions import ConnectionClosed

        async with self._ws_lock:
            frame: dict[str, Any] = {"type": "chat", "request": self._body(request)}
            if request.user_id:
                frame["request"]["user_id"] = request.user_id
            run_id, session_id = "", request.session_id or ""
            seen_any, finished = False, False
            pending_error: MuxiError | None = None
            ws, first = await self._send_turn(frame)
            try:
                while True:
                    try:
                        if first:
                            raw, first = first, b""
                        else:
                            raw = await ws.recv()
                    except ConnectionClosed:
                        self._ws = None
                        finished = True
                        self._notice(f"lost the connection to {self.label} during a turn")
                        if seen_any:
                            yield self._lost(run_id, session_id)
                            return
                        raise ConnectionFailedError(
                            f"the connection to {self.label} closed before the turn started",
                            hint="try again; `muxi profile test` checks the server",
                        ) from None
                    try:
                        obj = json.loads(raw)
                    except ValueError:
                        continue
                    kind = obj.get("type") if isinstance(obj, dict) else None
                    if not isinstance(kind, str):
                        continue
                    if kind == "done":
                        finished = True
                        if pending_error is not None:
                            raise pending_error
                        return
                    if kind == "error":
                        err = MuxiError.from_dict(obj.get("error") or {})
                        if obj.get("ref") == "chat" and not seen_any:
                            pending_error = err
                        elif obj.get("ref") == "chat":
                            yield Event(RUN_FAILED, run_id, session_id, {"error": err.to_dict()})
                        else:
                            self._notice(f"{self.label}: {err.message}")
                        continue
                    if kind in ("pong", "ready"):
                        continue
                    event = decode(obj)
                    seen_any = True
                    if not event.nested:
                        run_id = run_id or event.run_id
                        session_id = event.session_id or session_id
                        self._ws_run = run_id
                    if event.type == TOOL_APPROVAL and event.get("decision") == "pending":
                        self._ws_calls.add(str(event.get("call_id")))
                    yield event
            finally:
                self._ws_run = None
                self._ws_calls.clear()
                if not finished:
                    await self._abandon_ws_turn(ws)

    async def _abandon_ws_turn(self, ws: Any) -> None:
        """The caller stopped reading mid-turn: cancel it and wait for 'done'."""
        with contextlib.suppress(Exception):
            await ws.send(json.dumps({"type": "cancel"}))

            async def drain() -> None:
                while True:
                    obj = json.loads(await ws.recv())
                    if isinstance(obj, dict) and obj.get("type") == "done":
                        return

            try:
                await asyncio.wait_for(drain(), 10)
                return
            except TimeoutError:
                pass
        # The connection is in an unknown state: drop it (the server cancels the turn).
        with contextlib.suppress(Exception):
            await ws.close()
        self._ws = None

    async def approve(self, call_id: str, decision: ApprovalDecision) -> None:
        if call_id in self._ws_calls and self._ws is not None:
            self._ws_calls.discard(call_id)
            try:
                await self._ws.send(
                    json.dumps({"type": "approve", "call_id": call_id, "decision": decision})
                )
                return
            except Exception:
                pass
        await self._call("POST", f"/v1/approvals/{_q(call_id)}", json_body={"decision": decision})

    async def cancel(self, run_id: str) -> None:
        if run_id and run_id == self._ws_run and self._ws is not None:
            try:
                await self._ws.send(json.dumps({"type": "cancel", "run_id": run_id}))
                return
            except Exception:
                pass
        await self._call("POST", f"/v1/runs/{_q(run_id)}/cancel")

    # -- everything else -------------------------------------------------------------

    async def agents(self) -> list[AgentInfo]:
        return [AgentInfo.from_dict(a) for a in await self._call("GET", "/v1/agents")]

    async def sessions(
        self, user_id: str | None = None, query: str | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        data = await self._call(
            "GET", "/v1/sessions", user_id=user_id, params={"query": query, "limit": limit}
        )
        return [SessionInfo.from_dict(s) for s in data]

    async def session(self, session_id: str, user_id: str | None = None) -> SessionInfo:
        data = await self._call("GET", f"/v1/sessions/{_q(session_id)}", user_id=user_id)
        return SessionInfo.from_dict(data)

    async def messages(self, session_id: str) -> list[SessionMessage]:
        data = await self._call("GET", f"/v1/sessions/{_q(session_id)}/messages")
        return [SessionMessage.from_dict(m) for m in data]

    async def rename_session(self, session_id: str, title: str) -> SessionInfo:
        data = await self._call(
            "PATCH", f"/v1/sessions/{_q(session_id)}", json_body={"title": title}
        )
        return SessionInfo.from_dict(data)

    async def delete_session(self, session_id: str) -> None:
        await self._call("DELETE", f"/v1/sessions/{_q(session_id)}")

    async def export_session(self, session_id: str, fmt: Literal["md", "json"]) -> str:
        data = await self._call(
            "GET", f"/v1/sessions/{_q(session_id)}/export", params={"format": fmt}
        )
        return str(data["content"])

    async def memory_list(
        self, user_id: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[MemoryItem]:
        data = await self._call(
            "GET", "/v1/memory", user_id=user_id, params={"kind": kind, "limit": limit}
        )
        return [MemoryItem.from_dict(m) for m in data]

    async def memory_search(
        self, query: str, user_id: str | None = None, kind: str | None = None, limit: int = 10
    ) -> list[MemoryItem]:
        data = await self._call(
            "GET",
            "/v1/memory/search",
            user_id=user_id,
            params={"q": query, "kind": kind, "limit": limit},
        )
        return [MemoryItem.from_dict(m) for m in data]

    async def memory_add(
        self, text: str, user_id: str | None = None, kind: str = "fact"
    ) -> MemoryItem:
        data = await self._call(
            "POST", "/v1/memory", user_id=user_id, json_body={"text": text, "kind": kind}
        )
        return MemoryItem.from_dict(data)

    async def memory_forget(self, memory_id: str, user_id: str | None = None) -> None:
        await self._call("DELETE", f"/v1/memory/{_q(memory_id)}", user_id=user_id)

    async def tools(self, agent: str | None = None) -> list[ToolInfo]:
        data = await self._call("GET", "/v1/tools", params={"agent": agent})
        return [ToolInfo.from_dict(t) for t in data]

    async def mcp_servers(self) -> list[ServerInfo]:
        return [ServerInfo.from_dict(s) for s in await self._call("GET", "/v1/mcp/servers")]

    async def mcp_attach(
        self, name: str, server: dict[str, Any], agents: list[str] | None = None
    ) -> ServerInfo:
        body = {"name": name, "server": server, "agents": agents}
        return ServerInfo.from_dict(await self._call("POST", "/v1/mcp/servers", json_body=body))

    async def mcp_detach(self, name: str) -> None:
        await self._call("DELETE", f"/v1/mcp/servers/{_q(name)}")

    async def health(self) -> Health:
        data = await self._call("GET", "/v1/health")
        health = Health.from_dict(data)
        health.mode = "remote"
        return health

    async def whoami(self) -> dict[str, Any]:
        """The key's id, role and user as the server sees them."""
        return dict(await self._call("GET", "/v1/me"))

    async def aclose(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
