"""Speech in and out over HTTP: ``POST /v1/audio/transcriptions`` and ``/v1/audio/speech``.

Both run on the served runtime's audio configuration (``audio:`` in the
formation; without a speech model the server speaks with espeak-ng). Any
valid key may use them, like chatting; nothing is stored.

- transcriptions: multipart/form-data with a ``file`` part (an audio or video
  file; its part's content type, or a ``media_type`` field, says which) ->
  ``{"text": "..."}``. The key is checked before the upload is read.
- speech: JSON ``{"input", "voice", "format"}`` -> the audio bytes
  (``audio/mpeg``, ``audio/wav`` or ``audio/ogg``).
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures.

from typing import Any, Literal

from pydantic import BaseModel, Field

from muxi_cli.errors import MediaError, MediaTooLargeError, UsageError
from muxi_cli.server.context import Caller, ServerContext

#: Largest file to transcribe (the hosted API's own limit); the server's
#: ``--max-body`` applies first.
MAX_AUDIO_BYTES = 25 * 1024 * 1024


def audio_limit(ctx: ServerContext) -> int:
    """Largest file to transcribe here: the smaller of the hosted API's limit
    and the server's ``--max-upload-mb``."""
    return min(MAX_AUDIO_BYTES, ctx.media.max_bytes)


#: Longest text to speak in one request (characters).
MAX_SPEECH_CHARS = 20_000
_CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg"}
_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "media_type": {"type": "string"},
                    },
                }
            }
        },
    }
}


class SpeechBody(BaseModel):
    model_config = {"extra": "forbid"}

    input: str = Field(min_length=1, max_length=MAX_SPEECH_CHARS)
    voice: str | None = Field(default=None, max_length=64)
    format: Literal["mp3", "wav", "opus"] = "mp3"


#: (method, path, what it touches), as in ``server.routes.ROUTES``.
AUDIO_ROUTES: list[tuple[str, str, str]] = [
    ("POST", "/v1/audio/transcriptions", "none"),
    ("POST", "/v1/audio/speech", "none"),
]


def add_audio_routes(app: Any, ctx: ServerContext) -> None:
    from fastapi import APIRouter, Depends, Request  # deferred: FastAPI is slow to import
    from fastapi.responses import Response  # deferred: FastAPI is slow to import

    from muxi_cli.server.app import authenticate_request  # deferred: loads muxi's server

    async def caller(request: Request) -> Caller:
        client = request.client.host if request.client else None
        return await authenticate_request(ctx, request.headers, client, request.state)

    v1 = APIRouter(prefix="/v1", tags=["audio"])

    @v1.post(
        "/audio/transcriptions",
        summary="Speech to text (multipart `file`)",
        openapi_extra=_UPLOAD_DOC,
    )
    async def transcriptions(request: Request, who: Caller = Depends(caller)) -> dict[str, str]:
        data, media_type, name = await _upload(request, audio_limit(ctx))
        text = await ctx.runtime.transcribe(data, media_type=media_type, name=name)
        return {"text": text}

    @v1.post(
        "/audio/speech",
        summary="Text to speech: the audio bytes",
        response_class=Response,
        responses={200: {"content": {t: {} for t in _CONTENT_TYPES.values()}}},
    )
    async def speech(body: SpeechBody, who: Caller = Depends(caller)) -> Response:
        audio = await ctx.runtime.speak(body.input, voice=body.voice, fmt=body.format)
        return Response(audio, media_type=_CONTENT_TYPES[body.format])

    app.include_router(v1)


async def _upload(request: Any, limit: int) -> tuple[bytes, str, str | None]:
    """The ``file`` part of a multipart body: bytes, media type, file name."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UsageError(
            "send the audio as multipart/form-data with a `file` part",
            hint="curl -F file=@memo.m4a .../v1/audio/transcriptions",
        )
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise UsageError("the `file` part is missing", hint="send -F file=@memo.m4a")
        data = await upload.read(limit + 1)
        claimed = form.get("media_type")
        media_type = claimed if isinstance(claimed, str) and claimed else upload.content_type
        name = upload.filename
    if len(data) > limit:
        raise MediaTooLargeError(
            f"the file is larger than {limit:,} bytes",
            hint="send a shorter recording, or compress it (mono MP3 or Opus)",
        )
    media_type = (media_type or "application/octet-stream").split(";")[0].strip().lower()
    if not media_type.startswith(("audio/", "video/", "application/octet-stream")):
        raise MediaError(f"{media_type} is not audio or video", hint="send an audio or video file")
    return data, media_type, name
