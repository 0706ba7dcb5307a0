"""Transcription and speech against a muxi server (``/v1/audio/*``), for
:class:`~muxi_cli.runtime.remote.RemoteRuntime`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MuxiError
from muxi_cli.runtime.wire import error_from_body

if TYPE_CHECKING:
    from muxi_cli.runtime.client import ServerClient
    from muxi_cli.runtime.wire import Response

#: Seconds a transcription or speech request may take (the model's work is slow).
AUDIO_TIMEOUT = 300.0


async def _post(server: ServerClient, path: str, **kw: Any) -> Response:
    resp = await server.send("POST", path, timeout=AUDIO_TIMEOUT, **kw)
    if resp.status_code >= 400:
        raise error_from_body(resp.status_code, resp.content, server.url)
    return resp


async def transcribe(
    server: ServerClient, data: bytes, media_type: str, name: str | None = None
) -> str:
    """``POST /v1/audio/transcriptions`` (multipart ``file``): the text."""
    files = {"file": (name or "audio", data, media_type)}
    resp = await _post(server, "/v1/audio/transcriptions", files=files)
    try:
        return str(resp.json()["text"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MuxiError(
            f"the server at {server.url} sent no transcript", hint="is this URL a muxi server?"
        ) from exc


async def speak(server: ServerClient, text: str, voice: str | None, fmt: str) -> bytes:
    """``POST /v1/audio/speech``: the audio bytes."""
    body = {"input": text, "voice": voice, "format": fmt}
    resp = await _post(server, "/v1/audio/speech", json_body=body)
    return resp.content
