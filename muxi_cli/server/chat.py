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
from muxi_cli.runtime.turns import failure_event
from muxi_cli.runtime.wire import RUN_HEADER, SESSION_HEADER, SSE_MEDIA
from muxi_cli.server.auth import REVOKED_HINT, REVOKED_MESSAGE, until_revoked
from muxi_cli.server.runs import Running
from muxi_cli.server.scopes import check_chat
from muxi_cli.stores.lance_schema import SHARED_USER

if TYPE_CHECKING:
    from muxi_cli.server.context import Caller, ServerContext


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
    if req.attachments:
        # Only the owner's own uploads (404 like GET /v1/media/{id}); files sent
        # inline are stored too, so they must fit the owner's quota.
        await ctx.media.check_attachments(user, req.attachments)
    return req


async def start_turn(ctx: ServerContext, req: ChatRequest) -> Running:
    """Start a turn; errors before it starts (draining, unknown session) raise
    here, so they can still become a plain HTTP error."""
    return await ctx.registry.start(ctx.runtime, req)


async def turn_events(running: Running) -> AsyncIterator[Event]:
    """The turn's events, read from the Turn directly (its task is the only pump).

    A closing ``run.failed`` of a turn the server stopped says why (see
    :attr:`Running.stopped_by`).
    """
    async for event in running.turn.events():
        stopped = running.stopped_by
        if stopped is not None and isinstance(event, RunFailed) and not event.nested:
            event = failure_event(event.run_id, event.session_id, stopped)
        yield event


KEEPALIVE = b": keep-alive\n\n"


def sse_frame(event: Event) -> bytes:
    return f"data: {event.to_json()}\n\n".encode()


async def stop_when_revoked(running: Running, key_active: Callable[[], bool], every: float) -> None:
    """Cancel a turn soon after its key is revoked (a running stream does not
    outlive its key; the closing event says why)."""

    await until_revoked(key_active, every)
    with contextlib.suppress(MuxiError):
        await running.stop(ServerAuthError(REVOKED_MESSAGE, hint=REVOKED_HINT))


def sse_response(
    ctx: ServerContext,
    turn: Running,
    keepalive: float,
    key_active: Callable[[], bool] | None = None,
    key_check: float = 2.0,
) -> Any:
    """A streaming response that ends the turn when the client goes away, or
    (with ``key_active``) when the caller's key is revoked.

    A ``: keep-alive`` comment goes out when nothing was sent for ``keepalive``
    seconds: a ticker beside the stream, so reading an event costs no timer.
    """
    import anyio  # deferred: anyio is slow to import
    from starlette.responses import StreamingResponse  # deferred: Starlette is slow to import

    loop = asyncio.get_running_loop()
    last_sent = [loop.time()]
    lock = asyncio.Lock()  # uncontended, it never yields (anyio.Lock checkpoints)

    async def body() -> AsyncIterator[bytes]:
        async for event in turn_events(turn):
            yield sse_frame(event)

    class SSEResponse(StreamingResponse):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            # Body chunks go out only between the response's start and its last chunk.
            open_body = [False]

            async def locked_send(message: Any) -> None:
                async with lock:  # the stream and the keep-alive ticker share it
                    await send(message)
                    last_sent[0] = loop.time()
                    open_body[0] = message.get("type") == "http.response.start" or bool(
                        message.get("more_body")
                    )

            async def tick() -> None:
                keep = {"type": "http.response.body", "body": KEEPALIVE, "more_body": True}
                while True:
                    await anyio.sleep(max(0.0, last_sent[0] + keepalive - loop.time()))
                    async with lock:
                        if open_body[0] and loop.time() - last_sent[0] >= keepalive:
                            await send(keep)
                            last_sent[0] = loop.time()

            try:
                async with anyio.create_task_group() as tg:

                    async def stream() -> None:
                        with contextlib.suppress(OSError), ctx.streaming("sse"):
                            await self.stream_response(locked_send)
                        tg.cancel_scope.cancel()

                    tg.start_soon(stream)
                    if keepalive:
                        tg.start_soon(tick)
                    if key_active is not None:
                        tg.start_soon(stop_when_revoked, turn, key_active, key_check)
                    await self.listen_for_disconnect(receive)
                    tg.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    await ctx.registry.finish(turn)

    return SSEResponse(
        body(),
        media_type=SSE_MEDIA,
        headers={
            "cache-control": "no-cache",
            "x-accel-buffering": "no",
            RUN_HEADER: turn.run_id,
            SESSION_HEADER: turn.session_id,
        },
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


async def json_turn(
    ctx: ServerContext, turn: Running, receive: Callable[[], Awaitable[Any]]
) -> dict[str, Any]:
    """Collect a whole turn; a client that disconnects meanwhile cancels it."""
    import anyio  # deferred: anyio is slow to import

    events: list[Event] = []
    async with anyio.create_task_group() as tg:

        async def collect() -> None:
            try:
                async for event in turn_events(turn):
                    events.append(event)
            finally:
                with anyio.CancelScope(shield=True):
                    await ctx.registry.finish(turn)
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
