"""``GET /v1/ws``: interactive sessions over one WebSocket.

Frames are JSON objects. Event frames are exactly ``Event.to_dict()`` (their
``type`` is an event type: tell them by it, not by a dot, since ``usage`` has
none and ``media.stored`` is a control frame); control frames are these:

client -> server
    ``{"type": "auth", "key": "...", "user_id": null, "api_version": "1.1"}``
    first frame, unless a header (``Authorization``/``X-Muxi-Key``)
    authenticated the handshake (see :mod:`muxi_cli.server.ws_auth`)
    ``{"type": "chat", "request": {ChatRequest}, "idempotency_key": "..."}``  start a turn
    (the key is optional; a repeat attaches to the turn it started: server/turn_keys.py)
    ``{"type": "approve", "run_id": "...", "call_id": "...", "decision": "allow|always|deny"}``
    (``run_id`` is the ``tool.approval`` event's; it may be left out while the
    call id is unique among the caller's own pending calls)
    ``{"type": "elicit", "elicitation_id": "...", "action": "accept|decline|cancel", "content": {...}}``
    answers an ``elicitation.requested`` event of one of the caller's own turns
    ``{"type": "cancel", "run_id": "..."}``                 run_id optional: the current turn
    ``{"type": "resume", "run_id": "...", "after": N}``    follow a run again from event N + 1
    (see :mod:`muxi_cli.server.ws_resume`)
    ``{"type": "ping"}``
    ``media.begin`` / ``audio.begin``, binary frames, ``media.end`` / ``audio.end``:
    an upload, or a voice turn (see :mod:`muxi_cli.server.ws_media`)

server -> client
    ``{"type": "ready", "key_id", "role", "user_id", "version", "api_version"}``
    event frames of the running turn (``Event.to_dict()`` plus ``seq``, its
    number in the run: the SSE ``id``), then
    ``{"type": "done", "run_id", "session_id"}``            the turn is over
    ``{"type": "error", "error": {code, message, hint}, "ref": "chat|approve|cancel|..."}``
    (a refused chat is followed by ``done``, unless another turn was running)
    ``{"type": "pong"}``
    ``{"type": "media.stored", "media": {MediaRef}}``        an upload was stored

One turn runs at a time per connection; several turns may follow each other.
Closing the socket leaves the running turn to the resume grace: it is
cancelled (what was said is kept) unless a stream resumes it in time.

The key is checked again on every frame that starts work (chat, approve,
cancel, uploads) and every ``ws_key_check`` seconds: once it is revoked the server sends
an ``unauthorized`` error frame, cancels the turn and closes with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

from muxi_cli import __version__
from muxi_cli.errors import MuxiError, UsageError
from muxi_cli.protocol.apiversion import API_VERSION
from muxi_cli.protocol.events import EventFactory, RunCompleted
from muxi_cli.protocol.records import APPROVAL_DECISIONS
from muxi_cli.server.auth import REVOKED_HINT, REVOKED_MESSAGE, until_revoked
from muxi_cli.server.chat import prepare, start_turn
from muxi_cli.server.turn_keys import FIELD as KEY_FIELD
from muxi_cli.server.turn_keys import Existing, check_key, wait_logged
from muxi_cli.server.versioning import asked_for, header_values
from muxi_cli.server.ws_auth import CLOSE_AUTH, CLOSE_VERSION, authenticate
from muxi_cli.server.ws_frames import (
    STARTS_WORK,
    Busy,
    Revoked,
    elicit_frame,
    frame_ref,
    parse_frame,
)
from muxi_cli.server.ws_media import (
    CLOSE_TOO_BIG,
    Inbound,
    MediaFrames,
    Stalled,
    TooMuchData,
    Voice,
    chat_body,
    remaining,
    speech_events,
)
from muxi_cli.server.ws_resume import follow_run, start_resume

if TYPE_CHECKING:
    from muxi_cli.server.context import Caller, ServerContext
    from muxi_cli.server.runs import Running


def add_websocket(app: Any, ctx: ServerContext) -> None:
    from starlette.websockets import WebSocket  # deferred: Starlette is slow to import

    async def ws_endpoint(websocket: WebSocket) -> None:
        await Session(ctx, websocket).run()

    # This module uses postponed annotations; FastAPI needs the real class.
    ws_endpoint.__annotations__ = {"websocket": WebSocket, "return": None}
    app.add_api_websocket_route("/v1/ws", ws_endpoint)


class Session(MediaFrames):
    """One WebSocket connection."""

    def __init__(self, ctx: ServerContext, websocket: Any) -> None:
        self.ctx = ctx
        self.ws = websocket
        self.caller: Caller | None = None
        self.turn: Running | None = None
        self.turn_task: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self.closed = False
        self._watch: asyncio.Task[None] | None = None
        #: The upload being received (media.begin / audio.begin until its end frame).
        self.inbound: Inbound | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        if self.closed:
            return
        async with self._send_lock:
            try:
                await self.ws.send_text(json.dumps(frame, ensure_ascii=False))
            except Exception:
                self.closed = True

    async def send_error(self, err: MuxiError, ref: str | None = None, **extra: Any) -> None:
        if err.http_status == 429 and self.ctx.metrics is not None:
            self.ctx.metrics.refused("/v1/ws")
        await self.send({"type": "error", "error": err.to_dict(), "ref": ref, **extra})

    async def _receive(self) -> str | bytes:
        """The next frame's text; bytes while an upload runs (otherwise a binary
        frame must hold UTF-8 text). An upload that stalls is dropped."""
        from starlette.websockets import (
            WebSocketDisconnect,  # deferred: Starlette is slow to import
        )

        wait = remaining(self.inbound, self.ctx.settings.upload_idle)
        try:
            message = await asyncio.wait_for(self.ws.receive(), wait)
        except TimeoutError:
            raise Stalled(
                "the upload stalled or took too long; it was dropped",
                hint="send its frames without long pauses, then begin again",
            ) from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        text = message.get("text")
        if text is not None:
            return str(text)
        if self.inbound is not None or self.refused is not None:
            return bytes(message.get("bytes") or b"")
        try:
            return bytes(message.get("bytes") or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(
                "frames are JSON text", hint="send JSON objects as text frames"
            ) from None

    async def run(self) -> None:
        from starlette.websockets import (
            WebSocketDisconnect,  # deferred: Starlette is slow to import
        )

        await self.ws.accept()
        try:
            refused = asked_for(header_values(self.ws.scope.get("headers") or ()))
            if refused is not None:  # another major API version (server/versioning.py)
                await self.send_error(refused, "version")
                await self._close(CLOSE_VERSION)
                return
            if not await authenticate(self):
                return
            assert self.caller is not None
            self._watch = asyncio.create_task(self._watch_key())
            await self.send(
                {
                    "type": "ready",
                    "key_id": self.caller.principal.key_id,
                    "role": self.caller.principal.role,
                    "user_id": self.caller.user_id,
                    "version": __version__,
                    "api_version": API_VERSION,
                }
            )
            while True:
                raw: str | bytes = ""
                try:
                    raw = await self._receive()
                    if isinstance(raw, bytes):
                        if self.inbound is not None:
                            self._chunk(raw)
                        continue  # else: the rest of a refused upload
                    frame = parse_frame(raw)
                    if self.refused is not None:
                        # A refused upload's end frame was answered by the refusal.
                        skip, self.refused = frame.get("type") == f"{self.refused}.end", None
                        if skip:
                            continue
                    await self._handle(frame)
                except Busy as exc:
                    busy = frame_ref(raw) or "chat"
                    self._refuse_upload(busy)
                    await self.send_error(exc, busy)
                except Revoked as exc:
                    await self._close_revoked(exc, frame_ref(raw))
                    return
                except TooMuchData as exc:
                    await self.send_error(exc, self._drop_upload())
                    await self._close(CLOSE_TOO_BIG)
                    return
                except Stalled as exc:
                    dropped = self._drop_upload()
                    self._refuse_upload(dropped)
                    await self.send_error(exc, dropped)
                except MuxiError as exc:
                    ref = frame_ref(raw)
                    if ref in ("media.end", "audio.end", "media.abort", "audio.abort"):
                        self._drop_upload()
                    self._refuse_upload(ref)
                    await self.send_error(exc, ref)
                    if ref in ("chat", "audio.end", "resume"):  # no turn: say it is over
                        await self.send({"type": "done", "run_id": None, "session_id": None})
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.closed = True
            self._drop_upload()
            if self._watch is not None:
                self._watch.cancel()
            task = self.turn_task
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _handle(self, frame: dict[str, Any]) -> None:
        from muxi_cli.server.app import (
            TooManyRequests,  # deferred: loads muxi's paths, server, stores
        )

        kind = frame.get("type")
        if not isinstance(kind, str):
            raise UsageError("a frame's type is a string", hint="see docs/server.md")
        assert self.caller is not None
        if kind in STARTS_WORK and not self._key_active():
            raise Revoked(REVOKED_MESSAGE, hint=REVOKED_HINT)
        if self.inbound is not None and kind not in (
            "ping",
            "cancel",
            "approve",
            "elicit",
            f"{self.inbound.kind}.end",
            f"{self.inbound.kind}.abort",
        ):
            raise UsageError(
                f"an upload is in progress: finish it ({self.inbound.kind}.end) or "
                f"abort it ({self.inbound.kind}.abort) first"
            )
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "chat":
            self._not_busy()
            from muxi_cli.server.app import take_turn  # deferred: loads muxi's server

            wait = await take_turn(self.ctx, self.caller.principal.key_id)
            if wait > 0:
                raise TooManyRequests(wait)
            body = chat_body(frame.get("request"))
            req = await prepare(self.ctx, self.caller, body)
            key = check_key(frame.get(KEY_FIELD))
            self.turn_task = asyncio.create_task(self._run_turn(req, key=key))
        elif kind == "resume":
            self._not_busy()
            self.turn_task = asyncio.create_task(await start_resume(self, frame))
        elif kind in ("media.begin", "audio.begin"):
            await self._begin(frame, "media" if kind == "media.begin" else "audio")
        elif kind == "media.end" and self.inbound is not None:
            await self._end_media()
        elif kind == "audio.end" and self.inbound is not None:
            self._end_audio()
        elif kind in ("media.abort", "audio.abort"):
            self._drop_upload()
        elif kind == "approve":
            call_id = str(frame.get("call_id") or "")
            decision = frame.get("decision")
            if decision not in APPROVAL_DECISIONS:
                raise UsageError(f"decision must be one of: {', '.join(APPROVAL_DECISIONS)}")
            run_id = frame.get("run_id")
            if run_id is not None and not isinstance(run_id, str):
                raise UsageError("run_id must be a string")
            await self.ctx.registry.approve(
                call_id,
                self.caller.approval(decision),
                self.caller.scope_user,
                run_id or None,
            )
        elif kind == "elicit":
            eid, action, content = elicit_frame(frame)
            await self.ctx.registry.answer_elicitation(eid, action, content, self.caller.scope_user)
        elif kind == "cancel":
            run_id = frame.get("run_id") or (self.turn.run_id if self.turn else None)
            if not run_id:
                raise UsageError("no turn to cancel")
            await self.ctx.registry.cancel(str(run_id), self.caller.scope_user)
        elif kind in ("media.end", "audio.end"):
            raise UsageError(f"{kind} without a begin frame", hint="see docs/server.md")
        else:
            raise UsageError(
                f"unknown frame type {kind!r}",
                hint="use chat, approve, elicit, cancel, ping, media.begin or audio.begin",
            )

    def _not_busy(self) -> None:
        if self.turn_task is not None and not self.turn_task.done():
            raise Busy(
                "a turn is already running on this connection",
                hint="wait for its 'done' frame, or cancel it",
            )

    async def _close(self, code: int) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(code)

    def _key_active(self) -> bool:
        assert self.caller is not None
        return self.ctx.keys.is_active(self.caller.principal.key_id)

    async def _watch_key(self) -> None:
        """Close the connection soon after its key is revoked, even if it sends nothing."""
        await until_revoked(self._key_active, self.ctx.settings.ws_key_check)
        if self.closed:
            return
        self._watch = None  # closing cancels the watcher: not this task
        await self._close_revoked(Revoked(REVOKED_MESSAGE, hint=REVOKED_HINT), None)

    async def _close_revoked(self, exc: MuxiError, ref: str | None) -> None:
        await self.send_error(exc, ref)
        task = self.turn_task
        if task is not None and not task.done():
            if self.turn is not None:  # no resume grace for a revoked key's turn
                with contextlib.suppress(MuxiError):
                    await self.turn.stop(exc)
            task.cancel()
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(CLOSE_AUTH)

    async def _run_turn(self, req: Any, voice: Voice | None = None, key: str | None = None) -> None:
        try:
            started = await start_turn(self.ctx, req, key)
            if isinstance(started, Existing):  # a retried start: follow its turn instead
                assert self.caller is not None
                await wait_logged(self.ctx, started.run_id, self.caller.scope_user)
                await (await follow_run(self, started.run_id, 0))
                return
            turn = self.turn = started
        except MuxiError as exc:
            await self.send_error(exc, "audio.end" if voice else "chat")
            await self.send({"type": "done", "run_id": None, "session_id": req.session_id})
            return
        factory = EventFactory(turn.session_id, turn.run_id)
        reply: str | None = None
        self.ctx.registry.attach(turn)
        try:
            if voice is not None:
                await self.send(factory.transcript_delta(voice.transcript, final=True).to_dict())
            with self.ctx.streaming("websocket"):
                async for seq, event, _data in turn.tape.follow():
                    await self.send({**event.to_dict(), "seq": seq})
                    if isinstance(event, RunCompleted) and not event.nested:
                        reply = event.text
                    if self.closed:
                        break
        finally:
            self.ctx.registry.detach(turn)
        if voice is not None and voice.speak and reply and not self.closed:
            try:
                audio = await self.ctx.runtime.speak(reply, voice=voice.voice, fmt=voice.fmt)
            except MuxiError as exc:
                await self.send_error(exc, "speak")
            else:
                for delta in speech_events(factory, audio, voice.fmt):
                    await self.send(delta.to_dict())
        await self.send({"type": "done", "run_id": turn.run_id, "session_id": turn.session_id})
