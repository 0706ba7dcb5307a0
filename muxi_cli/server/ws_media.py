"""Binary uploads and voice turns over the WebSocket (frames: docs/server.md).

An upload is announced by a JSON frame (``media.begin`` or ``audio.begin``)
that names its exact ``size``, followed by binary frames holding the bytes,
and closed by ``media.end`` / ``audio.end``. Nothing is stored before the end
frame, and only when exactly ``size`` bytes arrived. Limits:

- ``size`` at most the server's ``--max-upload-mb`` (refused at the begin
  frame, before any byte is sent);
- each binary frame at most the WebSocket frame limit (``--max-body``);
- more bytes than announced: the socket is closed with 1009 (message too big);
- an upload that stalls for ``upload_idle`` seconds, or takes longer than
  ``upload_deadline``, is dropped (an error frame; the socket stays open).

An upload holds one of the server's upload places (like ``POST /v1/media``)
from its begin frame to its end.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli.errors import MediaError, MuxiError, UsageError
from muxi_cli.server.uploads import clean_name, too_large

if TYPE_CHECKING:
    from collections.abc import Callable

    from muxi_cli.protocol.events import AudioDelta
    from muxi_cli.server.context import Caller, ServerContext

#: Close code when a client sends more bytes than it announced (RFC 6455: too big).
CLOSE_TOO_BIG = 1009
#: Bytes of speech per ``audio.delta`` event (before base64).
AUDIO_CHUNK = 32 * 1024
SPEECH_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg"}


class TooMuchData(UsageError):
    """More bytes than the begin frame announced: the connection is closed."""

    code = "media_too_large"
    http_status = 413


@dataclass(slots=True)
class Inbound:
    """An upload being received on one connection."""

    kind: Literal["media", "audio"]
    user_id: str
    size: int
    name: str | None = None
    media_type: str | None = None
    data: bytearray = field(default_factory=bytearray)
    #: Loop time by which the whole upload must have arrived.
    deadline: float = 0.0
    #: Voice turns: speak the reply (and how), and the rest of the chat request.
    speak: bool = False
    voice: str | None = None
    fmt: str = "mp3"
    request: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.kind}.begin" if len(self.data) < self.size else f"{self.kind}.end"

    def add(self, chunk: bytes) -> None:
        if len(self.data) + len(chunk) > self.size:
            raise TooMuchData(
                f"more than the {self.size:,} bytes announced by {self.kind}.begin",
                hint="announce the exact size; the connection is closed",
            )
        self.data += chunk

    def complete(self) -> bytes:
        if len(self.data) != self.size:
            raise UsageError(
                f"{self.kind}.end after {len(self.data):,} of {self.size:,} bytes",
                hint="send every byte before the end frame",
            )
        return bytes(self.data)


def _text(frame: dict[str, Any], key: str, limit: int) -> str | None:
    value = frame.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise UsageError(f"{key} must be a string of at most {limit} characters")
    return value.strip() or None


def begin(
    frame: dict[str, Any], kind: Literal["media", "audio"], user_id: str, max_bytes: int
) -> Inbound:
    """The upload a begin frame announces (checked before any byte is sent)."""
    size = frame.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise UsageError(
            f"{kind}.begin needs the upload's exact size in bytes",
            hint=f'e.g. {{"type": "{kind}.begin", "name": "x.wav", "size": 48000}}',
        )
    if size > max_bytes:
        raise too_large(size, max_bytes)
    inbound = Inbound(
        kind,
        user_id,
        size,
        name=clean_name(_text(frame, "name", 1000)),
        media_type=_text(frame, "media_type", 255),
    )
    if kind == "audio":
        inbound.speak = bool(frame.get("speak", False))
        inbound.voice = _text(frame, "voice", 64)
        fmt = frame.get("format", "mp3")
        if not isinstance(fmt, str) or fmt not in SPEECH_TYPES:
            raise UsageError(f"format must be one of: {', '.join(SPEECH_TYPES)}")
        inbound.fmt = str(fmt)
        request = frame.get("request", {})
        if not isinstance(request, dict) or "message" in request:
            raise UsageError(
                "audio.begin's request is a chat request without 'message' (the transcript is)"
            )
        inbound.request = dict(request)
    return inbound


def speech_events(factory: Any, audio: bytes, fmt: str) -> list[AudioDelta]:
    """The spoken reply as ``audio.delta`` events (``factory``: the turn's EventFactory)."""
    media_type = SPEECH_TYPES.get(fmt, "application/octet-stream")
    chunks = [audio[i : i + AUDIO_CHUNK] for i in range(0, len(audio), AUDIO_CHUNK)] or [b""]
    return [
        factory.audio_delta(
            base64.b64encode(chunk).decode("ascii"), media_type, seq, seq == len(chunks) - 1
        )
        for seq, chunk in enumerate(chunks)
    ]


def remaining(inbound: Inbound | None, idle: float) -> float | None:
    """Seconds the next frame may take while an upload runs (None: no upload)."""
    if inbound is None:
        return None
    left = inbound.deadline - asyncio.get_running_loop().time()
    return max(0.0, min(idle, left))


@dataclass(slots=True)
class Voice:
    """What a voice turn adds to a turn: the transcript first, speech last."""

    transcript: str
    speak: bool
    voice: str | None
    fmt: str


class Stalled(UsageError):
    """An upload stopped sending (or ran past its deadline): dropped."""

    code = "request_timeout"
    http_status = 408


def chat_body(data: Any) -> dict[str, Any]:
    """A chat frame's request, validated like ``POST /v1/chat``'s body."""
    from pydantic import ValidationError  # deferred: only turns need it

    from muxi_cli.server.models import ChatBody  # deferred: loads pydantic models

    if not isinstance(data, dict):
        raise UsageError("a chat frame carries a 'request' object")
    try:
        return ChatBody.model_validate(data).request_dict()
    except ValidationError as exc:
        errors = exc.errors()
        first: dict[str, Any] = dict(errors[0]) if errors else {}
        loc = ".".join(str(p) for p in first.get("loc", ()))
        raise UsageError(f"invalid chat request: {loc}: {first.get('msg', 'invalid')}") from None


class MediaFrames:
    """The upload and voice frames of a WebSocket session (mixed into ws.Session)."""

    ctx: ServerContext
    caller: Caller | None
    inbound: Inbound | None
    turn_task: asyncio.Task[None] | None
    #: "media"/"audio" after a refused begin frame: the upload's binary frames
    #: and its end frame are dropped unanswered (the refusal was the answer), so a
    #: client may send begin, bytes and end without waiting.
    refused: str | None = None

    async def send(self, frame: dict[str, Any]) -> None: ...
    async def send_error(self, err: MuxiError, ref: str | None = None, **extra: Any) -> None: ...
    def _not_busy(self) -> None: ...
    async def _run_turn(self, req: Any, voice: Voice | None = None) -> None: ...

    async def _begin(self, frame: dict[str, Any], kind: Literal["media", "audio"]) -> None:
        from muxi_cli.server.chat import prepare  # deferred: loads the turn machinery

        assert self.caller is not None
        media = self.ctx.media
        inbound = begin(frame, kind, self.caller.user_id, media.max_bytes)
        if kind == "audio":
            self._not_busy()
            # The turn's request and scopes are checked now, before any audio is sent.
            await prepare(self.ctx, self.caller, chat_body({**inbound.request, "message": "-"}))
        media.admit(inbound.user_id)
        inbound.deadline = asyncio.get_running_loop().time() + media.deadline
        self.inbound = inbound

    def _refuse_upload(self, ref: str | None) -> None:
        if ref in ("media.begin", "audio.begin"):
            self.refused = ref.split(".", 1)[0]

    def _chunk(self, data: bytes) -> None:
        assert self.inbound is not None
        self.inbound.add(data)

    def _drop_upload(self) -> str | None:
        """Forget the upload in progress (its bytes were never stored); its ref."""
        inbound, self.inbound = self.inbound, None
        if inbound is None:
            return None
        self.ctx.media.release(inbound.user_id)
        return inbound.ref

    async def _end_media(self) -> None:
        assert self.inbound is not None
        inbound = self.inbound
        data = inbound.complete()
        try:
            ref = await self.ctx.media.put(
                inbound.user_id, data, name=inbound.name, media_type=inbound.media_type
            )
        finally:
            self._drop_upload()
        await self.send({"type": "media.stored", "media": ref.to_dict()})

    def _end_audio(self) -> None:
        assert self.inbound is not None
        inbound = self.inbound
        data = inbound.complete()
        self.inbound = None  # the voice turn gives its upload place back once stored
        released = False

        def release(_task: object = None) -> None:
            # Exactly once: from the turn once the audio is stored, or when the
            # task ends, which covers a task cancelled before it ever ran (the
            # client closing right after audio.end): its finally never runs.
            nonlocal released
            if not released:
                released = True
                self.ctx.media.release(inbound.user_id)

        self.turn_task = asyncio.create_task(self._voice_turn(inbound, data, release))
        self.turn_task.add_done_callback(release)

    async def _voice_turn(self, inbound: Inbound, data: bytes, release: Callable[[], None]) -> None:
        """Store the audio, transcribe it, run the turn on the transcript, speak the reply."""
        from muxi_cli.server.chat import prepare  # deferred: loads the turn machinery

        assert self.caller is not None
        try:
            try:
                ref = await self.ctx.media.put(
                    inbound.user_id, data, name=inbound.name, media_type=inbound.media_type
                )
            finally:
                release()
            heard = await self.ctx.runtime.transcribe(
                data, media_type=ref.media_type, name=ref.name
            )
            text = heard.strip()
            if not text:
                raise MediaError("no speech was recognised in the audio", hint="speak up")
            attachments = [*inbound.request.get("attachments", [])]
            attachments.append({"name": ref.name or "voice", "media_id": ref.id})
            body = chat_body({**inbound.request, "message": text, "attachments": attachments})
            req = await prepare(self.ctx, self.caller, body)
        except MuxiError as exc:
            await self.send_error(exc, "audio.end")
            await self.send({"type": "done", "run_id": None, "session_id": None})
            return
        await self._run_turn(req, Voice(text, inbound.speak, inbound.voice, inbound.fmt))
