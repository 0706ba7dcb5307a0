"""Interactive turns over one reused WebSocket (``/v1/ws``) of a muxi server.

:class:`WebSocketTurns` is the WebSocket half of
:class:`~muxi_cli.runtime.remote.RemoteRuntime`: turns with interactive
approval run here, so approvals and cancels travel on the same connection. A
dropped connection is re-opened with backoff and the user is told through
``notice``; a turn lost with the connection ends with ``run.failed`` /
``connection_failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from muxi_cli.errors import ConnectionFailedError, MuxiError
from muxi_cli.protocol.events import Event, RunFailed, ToolApproval, decode, new_id
from muxi_cli.protocol.records import ApprovalDecision, ChatRequest
from muxi_cli.runtime.wire import connection_error

#: Seconds between WebSocket reconnect attempts (the last one is repeated).
BACKOFF = (0.2, 0.5, 1.0, 2.0, 4.0)


def lost_event(label: str, run_id: str, session_id: str) -> Event:
    """``run.failed`` for a turn whose connection to the server was lost."""
    return RunFailed(
        run_id=run_id or new_id("run"),
        session_id=session_id,
        error={
            "code": ConnectionFailedError.code,
            "message": f"the connection to {label} was lost; the turn was interrupted",
            "hint": "what the agent said so far is saved on the server; send the message again",
        },
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
    ) -> None:
        self.url = url
        self.label = label
        self._headers = headers
        self._notice = notice
        self._attempts = max(1, attempts)
        #: The open connection, if any.
        self.ws: Any = None
        self._lock = asyncio.Lock()
        self._connected_once = False
        #: The turn running on the connection, and its calls waiting for approval.
        self.run_id: str | None = None
        #: call id -> the run id of its tool.approval event (sent back with the decision).
        self.calls: dict[str, str] = {}

    async def _connect(self) -> Any:
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

    async def _ensure(self) -> Any:
        from websockets.protocol import State

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
        raise connection_error(self.url, last)

    async def _send_turn(self, frame: dict[str, Any]) -> tuple[Any, str | bytes]:
        """Send a chat frame and read the first answer frame.

        A reused connection may have died while idle (server restarted): then
        reconnect once and send again, since the server never saw the turn.
        """
        from websockets.exceptions import ConnectionClosed

        for attempt in range(2):
            previous = self.ws
            ws = await self._ensure()
            fresh = ws is not previous
            try:
                await ws.send(json.dumps(frame))
                return ws, await ws.recv()
            except ConnectionClosed:
                self.ws = None
                if fresh or attempt:
                    raise ConnectionFailedError(
                        f"the connection to {self.label} closed before the turn started",
                        hint="try again; `muxi profile test` checks the server",
                    ) from None
                self._notice(f"the connection to {self.label} was closed while idle")
        raise AssertionError("unreachable")  # pragma: no cover

    async def chat(self, request: ChatRequest, body: dict[str, Any]) -> AsyncIterator[Event]:
        from websockets.exceptions import ConnectionClosed

        async with self._lock:
            frame: dict[str, Any] = {"type": "chat", "request": body}
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
                        self.ws = None
                        finished = True
                        self._notice(f"lost the connection to {self.label} during a turn")
                        if seen_any:
                            yield lost_event(self.label, run_id, session_id)
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
                            yield RunFailed(
                                run_id=run_id, session_id=session_id, error=err.to_dict()
                            )
                        else:
                            self._notice(f"{self.label}: {err.message}")
                        continue
                    if kind in ("pong", "ready"):
                        continue
                    try:
                        event = decode(obj)
                    except ValueError as exc:  # a malformed frame is skipped, not fatal
                        self._notice(f"{self.label}: skipped an event: {exc}")
                        continue
                    seen_any = True
                    if not event.nested:
                        run_id = run_id or event.run_id
                        session_id = event.session_id or session_id
                        self.run_id = run_id
                    if isinstance(event, ToolApproval) and event.decision == "pending":
                        self.calls[event.call_id] = event.run_id
                    yield event
            finally:
                self.run_id = None
                self.calls.clear()
                if not finished:
                    await self._abandon(ws)

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

    async def approve(
        self, call_id: str, decision: ApprovalDecision, run_id: str | None = None
    ) -> bool:
        """Send the decision on the socket if the call belongs to its turn (True if sent)."""
        known = self.calls.get(call_id)
        if known is None or (run_id is not None and run_id != known) or self.ws is None:
            return False
        del self.calls[call_id]
        frame = {"type": "approve", "run_id": known, "call_id": call_id, "decision": decision}
        try:
            await self.ws.send(json.dumps(frame))
        except Exception:
            return False
        return True

    async def cancel(self, run_id: str) -> bool:
        """Cancel the socket's running turn if it is ``run_id`` (True if sent)."""
        if not run_id or run_id != self.run_id or self.ws is None:
            return False
        try:
            await self.ws.send(json.dumps({"type": "cancel", "run_id": run_id}))
        except Exception:
            return False
        return True

    async def aclose(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
