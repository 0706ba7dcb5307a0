"""Chat turns over HTTP: SSE streams and single JSON answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MuxiError, ServerAuthError, UsageError
from muxi_cli.protocol.events import Event, RunFailed
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.protocol.reduce import reduce
from muxi_cli.server.runs import is_end
from muxi_cli.server.scopes import check_chat
from muxi_cli.stores.lance_schema import SHARED_USER

if TYPE_CHECKING:
    from muxi_cli.server.context import Caller, ServerContext

SSE_MEDIA = "text/event-stream"


async def prepare(ctx: ServerContext, caller: Caller, body: dict[str, Any]) -> ChatRequest:
    """Build the runtime request: the caller's user, and only the caller's sessions."""
    try:
        req = ChatRequest.from_dict(body)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"invalid chat request: {exc}", hint="see /docs for the body") from exc
    check_chat(caller.grants, req, ctx.formation)  # 403 naming a missing scope
    user = caller.user_id
    if user == SHARED_USER and not req.session_id:
        raise UsageError(
            "'*' names the shared knowledge, not a user to chat as",
            hint="send X-Muxi-User-Id with a user id (or none) to chat",
        )
    if req.session_id:
        info = await ctx.owned_session(caller, req.session_id)
        req.session_id = info.id
        user = info.user_id  # an admin continuing a session acts as its owner
    req.user_id = user
    req.caller_role = caller.principal.role  # never what the client claimed
    return req


def failed_event(error: MuxiError, run_id: str, session_id: str) -> Event:
    return RunFailed(run_id=run_id, session_id=session_id, error=error.to_dict())


class TurnStream:
    """A started turn: the first item is already there (so errors before the
    turn starts can still become a plain HTTP error)."""

    def __init__(self, ctx: ServerContext, req: ChatRequest) -> None:
        self.ctx = ctx
        self.req = req
        self.run_id = ""
        self.session_id = req.session_id or ""
        self._cm: contextlib.AbstractAsyncContextManager[asyncio.Queue[Any]] | None = None
        self._queue: asyncio.Queue[Any] | None = None
        self._first: Any = None
        #: Set when the turn is stopped because its key was revoked: the turn's
        #: closing failure is reported as this error instead of a plain cancel.
        self.stopped_by: MuxiError | None = None

    async def start(self, on_event: Callable[[Event], Awaitable[None]] | None = None) -> None:
        assert self.req.user_id is not None
        self._cm = self.ctx.registry.pump(
            self.ctx.runtime.chat(self.req), self.req.user_id, on_event
        )
        self._queue = await self._cm.__aenter__()
        first = await self._queue.get()
        if isinstance(first, MuxiError) or is_end(first):
            await self.close()
            if isinstance(first, MuxiError):
                raise first
            raise MuxiError("the turn ended without any event", hint="see the server's log")
        self._first = first
        if isinstance(first, Event) and not first.nested:
            self.run_id = first.run_id
            self.session_id = first.session_id or self.session_id

    async def events(self, keepalive: float | None = None) -> AsyncIterator[Event | None]:
        """The turn's events; ``None`` marks a keep-alive tick when ``keepalive`` is set."""
        assert self._queue is not None
        item = self._first
        self._first = None
        while True:
            if item is None:
                try:
                    if keepalive:
                        item = await asyncio.wait_for(self._queue.get(), keepalive)
                    else:
                        item = await self._queue.get()
                except TimeoutError:
                    yield None
                    continue
            if is_end(item):
                return
            if isinstance(item, MuxiError):
                yield failed_event(self.stopped_by or item, self.run_id, self.session_id)
            else:
                assert isinstance(item, Event)
                if not item.nested:
                    self.run_id = self.run_id or item.run_id
                    self.session_id = item.session_id or self.session_id
                if isinstance(item, RunFailed) and not item.nested and self.stopped_by is not None:
                    item = failed_event(self.stopped_by, item.run_id, item.session_id)
                yield item
            item = None

    async def close(self) -> None:
        cm, self._cm = self._cm, None
        if cm is not None:
            await cm.__aexit__(None, None, None)


def sse_frame(event: Event) -> bytes:
    return f"data: {event.to_json()}\n\n".encode()


async def stop_when_revoked(turn: TurnStream, key_active: Callable[[], bool], every: float) -> None:
    """Cancel ``turn`` soon after its key is revoked (a running stream does not
    outlive its key; the closing event says why)."""
    from muxi_cli.server.auth import REVOKED_HINT, REVOKED_MESSAGE, until_revoked

    await until_revoked(key_active, every)
    turn.stopped_by = ServerAuthError(REVOKED_MESSAGE, hint=REVOKED_HINT)
    if turn.run_id:
        with contextlib.suppress(MuxiError):
            await turn.ctx.runtime.cancel(turn.run_id)


def sse_response(
    turn: TurnStream,
    keepalive: float,
    key_active: Callable[[], bool] | None = None,
    key_check: float = 2.0,
) -> Any:
    """A streaming response that ends the turn when the client goes away, or
    (with ``key_active``) when the caller's key is revoked."""
    import anyio
    from starlette.responses import StreamingResponse

    async def body() -> AsyncIterator[bytes]:
        try:
            async for event in turn.events(keepalive):
                yield b": keep-alive\n\n" if event is None else sse_frame(event)
        finally:
            await turn.close()

    class SSEResponse(StreamingResponse):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            try:
                async with anyio.create_task_group() as tg:

                    async def stream() -> None:
                        with contextlib.suppress(OSError):
                            await self.stream_response(send)
                        tg.cancel_scope.cancel()

                    tg.start_soon(stream)
                    if key_active is not None:
                        tg.start_soon(stop_when_revoked, turn, key_active, key_check)
                    await self.listen_for_disconnect(receive)
                    tg.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    await turn.close()

    return SSEResponse(
        body(),
        media_type=SSE_MEDIA,
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


def summarize(events: list[Event]) -> dict[str, Any]:
    """The single JSON answer of a non-streaming turn (the fold is protocol/reduce.py)."""
    s = reduce(events)
    return {
        "run_id": s.run_id,
        "session_id": s.session_id,
        "agent": s.agent,
        "reply": s.reply,
        "status": s.status,
        "error": s.error,
        "usage": s.total_usage.to_dict(),
        "tool_calls": [call.to_dict() for call in s.tool_calls],
        "duration_ms": s.duration_ms,
    }


async def json_turn(turn: TurnStream, receive: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    """Collect a whole turn; a client that disconnects meanwhile cancels it."""
    import anyio

    events: list[Event] = []
    async with anyio.create_task_group() as tg:

        async def collect() -> None:
            try:
                async for event in turn.events():
                    if event is not None:
                        events.append(event)
            finally:
                with anyio.CancelScope(shield=True):
                    await turn.close()
            tg.cancel_scope.cancel()

        async def watch() -> None:
            while True:
                message = await receive()
                if message.get("type") == "http.disconnect":
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(collect)
        tg.start_soon(watch)
    return summarize(events)
