"""Interactive turns over one reused WebSocket (``/v1/ws``) of a muxi server.

:class:`WebSocketTurns` is the WebSocket half of
:class:`~muxi_cli.runtime.remote.RemoteRuntime`: turns with interactive
approval run here (:class:`WebSocketTurn`), so approvals and cancels travel
on the same connection. A dropped connection is re-opened with backoff and
the user is told through ``notice``; a turn lost with the connection ends with ``run.failed`` /
``connection_failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import Any

from muxi_cli.errors import ConnectionFailedError, MuxiError
from muxi_cli.protocol import apiversion
from muxi_cli.protocol.events import Event, RunFailed, decode
from muxi_cli.protocol.messages import MediaRef
from muxi_cli.protocol.records import ApprovalDecision, ChatRequest
from muxi_cli.runtime.remote_sse import START_RETRIES
from muxi_cli.runtime.turns import StreamTurn, lost_event
from muxi_cli.runtime.wire import IDEMPOTENCY_FIELD, connection_error, turn_key

#: Seconds between WebSocket reconnect attempts (the last one is repeated).
BACKOFF = (0.2, 0.5, 1.0, 2.0, 4.0)


class StartLost(ConnectionFailedError):
    """The connection closed after the chat frame was sent, before the turn's first
    frame: the server may have taken it, so only its idempotency key makes a
    resend safe (:meth:`WebSocketTurns.chat` sends it again, with the same key)."""

    def __init__(self, label: str) -> None:
        super().__init__(
            f"the connection to {label} closed before the turn started",
            hint="try again; `muxi profile test` checks the server",
        )


class WebSocketTurns:
    """One WebSocket to ``url``, reused turn after turn, one turn at a time."""

    def __init__(
        self,
        url: str,
        label: str,
        headers: Callable[[], dict[str, str]],
        notice: Callable[[str], None],
        attempts: int,
        *,
        uds: Path | None = None,
    ) -> None:
        self.url = url
        #: The Unix socket to connect to instead of TCP (a local host).
        self.uds = uds
        self.label = label
        self._headers = headers
        self._notice = notice
        self._attempts = max(1, attempts)
        #: The open connection, if any.
        self.ws: Any = None
        self._lock = asyncio.Lock()
        self._connected_once = False
        #: The last connection's ``ready`` frame (it names the server's API version).
        self.ready: dict[str, Any] = {}
        #: Called with each new connection's ``ready`` frame before anything is sent
        #: on it (the Python client's API version check); raising refuses it.
        self.check_ready: Callable[[dict[str, Any]], None] | None = None

    async def _connect(self) -> Any:
        from websockets.asyncio.client import connect  # deferred: websockets is slow to import

        ws_url = "ws" + self.url[len("http") :] + "/v1/ws"
        # unix=True: the same handshake over the local socket; the URL names the host.
        unix: dict[str, Any] = {} if self.uds is None else {"unix": True, "path": str(self.uds)}
        ws = await connect(
            ws_url,
            **unix,
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
        self.ready = frame if isinstance(frame, dict) else {}
        if self.check_ready is not None:
            try:
                self.check_ready(self.ready)
            except BaseException:
                await ws.close()
                raise
        return ws

    async def _ensure(self) -> Any:
        from websockets.protocol import State  # deferred: websockets is slow to import

        if self.ws is not None and self.ws.state is State.OPEN:
            return self.ws
        reconnecting = self._connected_once
        self.ws = None
        if reconnecting:
            self._notice(f"reconnecting to {self.label} ({self.url}) ...")
        last: BaseException | None = None
        for attempt in range(self._attempts):
            try:
                self.ws = await self._connect()
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
            self._connected_once = True
            return self.ws
        assert last is not None
        where = self.url if self.uds is None else f"{self.url} (socket {self.uds})"
        raise connection_error(where, last)

    def _keyed(self) -> bool:  # an older server ignores the key: a resend runs the turn again
        return apiversion.keeps_turn_keys(self.ready.get("api_version"))

    async def _send_turn(self, frame: dict[str, Any]) -> tuple[Any, str | bytes]:
        """Send a chat frame and read the first answer frame.

        A reused connection may have died while idle (server restarted): then reconnect
        once and send again, if the frame was never sent or the server keeps its key."""
        from websockets.exceptions import ConnectionClosed  # deferred: websockets is slow to import

        for attempt in range(2):
            previous = self.ws
            ws = await self._ensure()
            fresh = ws is not previous
            sent = False
            try:
                await ws.send(json.dumps(frame))
                sent = True
                return ws, await ws.recv()
            except ConnectionClosed:
                self.ws = None
                if fresh or attempt or (sent and not self._keyed()):  # it may have read it
                    raise StartLost(self.label) from None
                self._notice(f"the connection to {self.label} was closed while idle")
        raise AssertionError("unreachable")  # pragma: no cover

    async def chat(self, request: ChatRequest, body: dict[str, Any]) -> WebSocketTurn:
        """Start a turn on the connection; returns once its first event arrived
        (it carries the run and session ids). The connection is the turn's until
        the turn is closed: one turn at a time."""
        await self._lock.acquire()
        try:
            # One key for every send of this start (a resend, a retry after a drain).
            frame: dict[str, Any] = {"type": "chat", "request": body, IDEMPOTENCY_FIELD: turn_key()}
            if request.user_id:
                frame["request"]["user_id"] = request.user_id
            lost = 0
            for attempt in range(self._attempts):
                ws = None
                try:
                    ws, first = await self._send_turn(frame)
                    turn = WebSocketTurn(self, ws, first, request.session_id or "")
                    await turn.begin()
                    break
                except MuxiError as exc:
                    # A draining replica: the turn never started; a new connection
                    # (through a load balancer, to another replica) may take it. A
                    # start lost on its way: the key attaches a resend to the turn.
                    lost += isinstance(exc, StartLost)
                    retry = exc.code == "shutting_down" or (
                        isinstance(exc, StartLost) and lost <= START_RETRIES and self._keyed()
                    )
                    if not retry or attempt + 1 >= self._attempts:
                        raise
                    self.ws = None
                    if ws is not None:
                        with contextlib.suppress(Exception):
                            await ws.close()
                    await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
        except BaseException:
            self._lock.release()
            raise
        return turn

    async def upload(
        self, data: bytes, *, name: str | None = None, media_type: str | None = None
    ) -> MediaRef:
        """Store a file on the server over the connection (``media.begin``, binary
        frames, ``media.end``); its reference once stored. Waits for a running turn."""
        from muxi_cli.runtime.remote_upload import upload  # deferred: only uploads need it

        async with self._lock:
            return await upload(self, await self._ensure(), data, name, media_type)

    async def _abandon(self, ws: Any) -> None:
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
        self.ws = None

    async def aclose(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()


class WebSocketTurn(StreamTurn):
    """A turn running on the connection of :class:`WebSocketTurns`.

    Approvals and cancels are frames on the same connection. A lost
    connection is opened again and the turn resumed from its last event
    (``resume``); if that fails, or the server numbers no events (an older
    muxi), the stream ends with ``run.failed`` / ``connection_failed``.
    """

    def __init__(self, owner: WebSocketTurns, ws: Any, first: str | bytes, session_id: str) -> None:
        super().__init__("", session_id)
        self._owner = owner
        self._ws = ws
        self._raw_first: str | bytes = first
        self._first: Event | None = None
        self._frames_iter: AsyncGenerator[Event, None] = self._frames()
        self._seen_any = False
        #: The server's ``done`` frame was read (or the connection is gone).
        self._frames_done = False
        #: The ``seq`` of the last event frame read (0: the server sends none).
        self.last_seq = 0
        #: How many times the turn was resumed on a new connection.
        self.resumed = 0

    async def begin(self) -> None:
        """Read up to the first event: its ids become the turn's (a refused turn raises)."""
        try:
            first = await anext(self._frames_iter)
        except StopAsyncIteration:
            raise MuxiError(
                "the server ended the turn without any event", hint="see the server's log"
            ) from None
        self._first = first
        self.run_id = first.run_id
        self.session_id = first.session_id or self.session_id

    async def _frames(self) -> AsyncGenerator[Event, None]:
        from websockets.exceptions import ConnectionClosed  # deferred: websockets is slow to import

        owner, ws = self._owner, self._ws
        pending_error: MuxiError | None = None
        while True:
            try:
                if self._raw_first:
                    raw, self._raw_first = self._raw_first, b""
                else:
                    raw = await ws.recv()
            except ConnectionClosed:
                owner.ws = None
                self._frames_done = True
                if self._seen_any and self.last_seq and self.run_id:
                    resumed = await self._resume()
                    if resumed is not None:
                        ws = resumed
                        continue
                owner._notice(f"lost the connection to {owner.label} during a turn")
                if self._seen_any:
                    yield lost_event(owner.label, self.run_id, self.session_id)
                    return
                raise StartLost(owner.label) from None
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            kind = obj.get("type") if isinstance(obj, dict) else None
            if not isinstance(kind, str):
                continue
            if kind == "done":
                self._frames_done = True
                if pending_error is not None:
                    if self._seen_any:  # the resume was refused: the rest is lost
                        yield lost_event(owner.label, self.run_id, self.session_id)
                        return
                    raise pending_error
                return
            if kind == "error":
                err = MuxiError.from_dict(obj.get("error") or {})
                if obj.get("ref") == "resume":
                    owner._notice(f"{owner.label} cannot resume the turn: {err.message}")
                    pending_error = err
                elif obj.get("ref") == "chat" and not self._seen_any:
                    pending_error = err
                elif obj.get("ref") == "chat":
                    yield RunFailed(
                        run_id=self.run_id, session_id=self.session_id, error=err.to_dict()
                    )
                else:
                    owner._notice(f"{owner.label}: {err.message}")
                continue
            if kind in ("pong", "ready"):
                continue
            seq = obj.pop("seq", None)
            if isinstance(seq, int) and not isinstance(seq, bool):
                if seq <= self.last_seq:
                    continue  # read before the connection was lost
                self.last_seq = seq
            try:
                event = decode(obj)
            except ValueError as exc:  # a malformed frame is skipped, not fatal
                owner._notice(f"{owner.label}: skipped an event: {exc}")
                continue
            self._seen_any = True
            yield event

    async def _resume(self) -> Any:
        """Reconnect and ask the server to go on from the last event read
        (``resume``); the new connection, or None if that failed."""
        owner = self._owner
        owner._notice(f"lost the connection to {owner.label} during a turn; resuming")
        try:
            ws = await owner._ensure()
            frame = {"type": "resume", "run_id": self.run_id, "after": self.last_seq}
            await ws.send(json.dumps(frame))
        except Exception:
            return None
        self._ws = ws
        self._frames_done = False
        self.resumed += 1
        return ws

    async def _stream(self) -> AsyncIterator[Event]:
        first, self._first = self._first, None
        if first is not None:
            yield first
        async for event in self._frames_iter:
            yield event

    async def _send(self, frame: dict[str, Any]) -> None:
        try:
            await self._ws.send(json.dumps(frame))
        except Exception as exc:
            raise ConnectionFailedError(
                f"could not reach {self._owner.label}: {type(exc).__name__}",
                hint="the turn's connection is gone; send the message again",
            ) from None

    async def _cancel(self) -> None:
        if not self._frames_done:
            await self._send({"type": "cancel", "run_id": self.run_id})

    async def _answer(self, run_id: str, call_id: str, decision: ApprovalDecision) -> None:
        frame = {"type": "approve", "run_id": run_id, "call_id": call_id, "decision": decision}
        await self._send(frame)

    async def _answer_input(
        self, run_id: str, elicitation_id: str, action: str, content: dict[str, Any] | None
    ) -> None:
        frame = {"type": "elicit", "elicitation_id": elicitation_id, "action": action}
        await self._send({**frame, "content": content} if content is not None else frame)

    async def _close(self, unfinished: bool) -> None:
        try:
            if not self._frames_done:
                await self._owner._abandon(self._ws)
        finally:
            with contextlib.suppress(BaseException):
                await self._frames_iter.aclose()
            self._owner._lock.release()
