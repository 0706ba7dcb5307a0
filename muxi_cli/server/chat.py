"""Chat turns over HTTP: SSE streams and single JSON answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MuxiError, NotFoundError, ServerAuthError, UsageError
from muxi_cli.protocol.events import Event, decode
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.protocol.reduce import reduce
from muxi_cli.runtime.wire import RUN_HEADER, SESSION_HEADER, SSE_MEDIA
from muxi_cli.server.auth import REVOKED_HINT, REVOKED_MESSAGE, until_revoked
from muxi_cli.server.runs import Running
from muxi_cli.server.scopes import check_chat
from muxi_cli.server.turn_keys import Existing, start_keyed, wait_logged
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
    req.caller_role = caller.tool_role  # never what the client claimed
    if req.attachments:
        # Only the owner's own uploads (404 like GET /v1/media/{id}); files sent
        # inline are stored too, so they must fit the owner's quota.
        await ctx.media.check_attachments(user, req.attachments)
    return req


async def start_turn(
    ctx: ServerContext, req: ChatRequest, key: str | None = None
) -> Running | Existing:
    """Start a turn, or find the one idempotency ``key`` already started
    (server/turn_keys.py); errors before it starts (draining, unknown session)
    raise here, so they can still become a plain HTTP error."""
    return await start_keyed(ctx, req, key)


async def existing_answer(
    ctx: ServerContext,
    caller: Caller,
    run_id: str,
    streaming: bool,
    receive: Callable[[], Awaitable[Any]],
) -> Any:
    """A repeated start's answer: the run its key started, from its first event
    (SSE), or its single JSON answer once it ends."""
    from starlette.responses import JSONResponse  # deferred: Starlette is slow to import

    await wait_logged(ctx, run_id, caller.scope_user)
    if streaming:
        return await resume_response(ctx, caller, run_id, 0)
    running, frames, _session = await resume_source(ctx, caller, run_id, 0)
    if running is not None:
        return JSONResponse(await json_turn(ctx, running, receive, keyed=True))
    return JSONResponse(summarize([decode(data) async for _seq, data in frames]))


KEEPALIVE = b": keep-alive\n\n"


#: Characters some SSE readers break lines at besides CR and LF (httpx's, as
#: ``str.splitlines``), written as JSON escapes: inside an event's JSON they can only
#: be in strings, so a reply holding them cannot forge an ``id:`` or ``data:`` line.
_LINE_BREAKS = {c: f"\\u{c:04x}" for c in (0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)}


def sse_frame(seq: int, data: str) -> bytes:
    """One event (its JSON) and its number in the run, the id a resuming client sends back."""
    return f"id: {seq}\ndata: {data.translate(_LINE_BREAKS)}\n\n".encode()


def tape_frames(turn: Running, after: int = 0) -> AsyncIterator[tuple[int, str]]:
    """The turn's numbered events above ``after`` as the tape has them, to its end."""

    async def frames() -> AsyncIterator[tuple[int, str]]:
        async for seq, _event, data in turn.tape.follow(after):
            yield seq, data

    return frames()


async def stop_when_revoked(running: Running, key_active: Callable[[], bool], every: float) -> None:
    """Cancel a turn soon after its key is revoked (a running stream does not
    outlive its key; the closing event says why)."""

    await until_revoked(key_active, every)
    with contextlib.suppress(MuxiError):
        await running.stop(ServerAuthError(REVOKED_MESSAGE, hint=REVOKED_HINT))


def sse_response(
    ctx: ServerContext,
    turn: Running | None,
    keepalive: float,
    key_active: Callable[[], bool] | None = None,
    key_check: float = 2.0,
    *,
    frames: AsyncIterator[tuple[int, str]] | None = None,
    ids: tuple[str, str] | None = None,
) -> Any:
    """A streaming response of numbered events (``id:`` lines): ``frames``, by
    default the whole of ``turn``'s tape.

    The response follows ``turn`` while it streams: when the client goes away
    the turn runs on for the resume grace (see :meth:`RunRegistry.detach`);
    with ``key_active`` it is stopped once the caller's key is revoked. Without
    ``turn`` (a run followed from the event log) it only streams ``frames``;
    ``ids`` are then the run's and session's ids for the headers.

    A ``: keep-alive`` comment goes out when nothing was sent for ``keepalive``
    seconds: a ticker beside the stream, so reading an event costs no timer.
    """
    import anyio  # deferred: anyio is slow to import
    from starlette.responses import StreamingResponse  # deferred: Starlette is slow to import

    loop = asyncio.get_running_loop()
    last_sent = [loop.time()]
    lock = asyncio.Lock()  # uncontended, it never yields (anyio.Lock checkpoints)

    source = frames if frames is not None else tape_frames(turn) if turn is not None else None
    assert source is not None, "a turn or frames to stream"
    if turn is not None:
        ctx.registry.attach(turn)  # before the response runs: no grace starts meanwhile

    async def body() -> AsyncIterator[bytes]:
        async for seq, data in source:
            yield sse_frame(seq, data)

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
                    if key_active is not None and turn is not None:
                        tg.start_soon(stop_when_revoked, turn, key_active, key_check)
                    await self.listen_for_disconnect(receive)
                    tg.cancel_scope.cancel()
            finally:
                if turn is not None:
                    ctx.registry.detach(turn)

    if ids is None:
        ids = (turn.run_id, turn.session_id) if turn is not None else ("", "")
    run_id, session_id = ids
    return SSEResponse(
        body(),
        media_type=SSE_MEDIA,
        headers={
            "cache-control": "no-cache",
            "x-accel-buffering": "no",
            RUN_HEADER: run_id,
            SESSION_HEADER: session_id,
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
    ctx: ServerContext,
    turn: Running,
    receive: Callable[[], Awaitable[Any]],
    *,
    keyed: bool = False,
) -> dict[str, Any]:
    """Collect a whole turn; a client that disconnects meanwhile cancels it at
    once (it has no stream to resume), unless its start was ``keyed``: then the
    turn runs on for the resume grace, so a retry with the key gets its answer."""
    import anyio  # deferred: anyio is slow to import

    events: list[Event] = []
    ctx.registry.attach(turn)
    async with anyio.create_task_group() as tg:

        async def collect() -> None:
            try:
                async for _seq, event, _data in turn.tape.follow():
                    events.append(event)
            finally:
                ctx.registry.detach(turn, grace=None if keyed else 0)
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


#: The largest event number a resume may name (the log's 64-bit ``seq``).
MAX_EVENT_ID = 2**63 - 1


def resume_after(last_event_id: str | None, after: int | None) -> int:
    """Where a resumed stream starts: ``Last-Event-ID`` if sent, else ``?after=``, else 0.

    A number (ASCII digits) from 0 to :data:`MAX_EVENT_ID`; anything else is a 400
    (a larger one would overflow the database's integer and break the stream)."""
    if last_event_id is None or not last_event_id.strip():
        value = after or 0
    else:
        text = last_event_id.strip()
        if text.startswith("-") and text[1:].isascii() and text[1:].isdigit():
            raise UsageError("Last-Event-ID must not be negative")
        if not (text.isascii() and text.isdigit()):
            raise UsageError(
                "Last-Event-ID must be an event number", hint="send the id: of the last event read"
            )
        value = int(text)
    if value > MAX_EVENT_ID:
        raise UsageError(f"the event number must be at most {MAX_EVENT_ID}")
    return value


async def resume_source(
    ctx: ServerContext, caller: Caller, run_id: str, after: int
) -> tuple[Running | None, AsyncIterator[tuple[int, str]], str]:
    """What a resumed stream reads: the turn if this process runs it (else None),
    its numbered events above ``after`` to the end, and its session id.

    The caller's own runs only (admins: any); a run that is not the caller's
    reads as one that does not exist (``NotFoundError``, as the cancel route says).
    """
    from muxi_cli.server.tape import follow_log  # deferred: only resumed streams read the log

    running = ctx.registry.running(run_id, caller.scope_user)
    if running is not None:
        return running, tape_frames(running, after), running.session_id
    log = ctx.registry.log
    info = await log.run(run_id) if log is not None else None
    if log is not None and info is None:
        await log.flush()  # it may have ended here a moment ago, its events on their way
        info = await log.run(run_id)
    if log is None or info is None or caller.scope_user not in (None, info.user_id):
        raise NotFoundError(f"no running turn {run_id!r}", hint="it may have finished already")
    frames = follow_log(log, run_id, after)
    cluster = ctx.registry.cluster
    if cluster is not None and not info.done and info.replica != ctx.registry.replica:
        # The replica running it counts this follower, or its resume grace would end it.
        from muxi_cli.server.cluster_turn import followed  # deferred: only replicas

        frames = followed(frames, cluster, info, max(0.05, ctx.registry.resume_grace / 3))
    return None, frames, info.session_id


async def resume_response(ctx: ServerContext, caller: Caller, run_id: str, after: int) -> Any:
    """``GET /v1/runs/{run_id}/events``: the run's events above ``after``, then the
    rest as it runs (SSE); see :func:`resume_source`."""
    running, frames, session_id = await resume_source(ctx, caller, run_id, after)
    key_id = caller.principal.key_id
    return sse_response(
        ctx,
        running,
        ctx.settings.keepalive,
        key_active=lambda: ctx.keys.is_active(key_id),
        key_check=ctx.settings.ws_key_check,
        frames=frames,
        ids=(run_id, session_id),
    )
