"""The OpenAI audio endpoints of the fake model server (tests/fakellm.py).

- ``POST /v1/audio/transcriptions``: multipart/form-data with a ``file`` part
  and a ``model`` field (a 400 like OpenAI's without them); answers
  ``{"text": fake.transcript}`` (``response_format: text``: the bare text).
- ``POST /v1/audio/speech``: JSON ``{model, input, voice, response_format}``;
  answers audio bytes of that format (``fake.speech_audio`` when set, else a
  short silent WAV or MP3 made here) with its content type.

Every audio request is recorded in ``fake.audio_requests``: ``path``,
``headers``, and for transcriptions ``content_type``, ``fields`` (text parts)
and ``files`` (``{"file": {"filename", "content_type", "data"}}``), for speech
``json``. ``fake.audio_error`` (an ``Error``) answers every audio request with
that error instead.
"""

from __future__ import annotations

import io
import json
import wave
from email import message_from_bytes
from email.policy import HTTP
from typing import Any

SPEECH_TYPES = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "pcm": "audio/pcm",
}
#: One MPEG-1 Layer III frame header (128 kb/s, 44.1 kHz, joint stereo); a frame is 417 bytes.
_MP3_HEADER = b"\xff\xfb\x90\x44"
_MP3_FRAME = 417


def silent_wav(seconds: float = 0.2, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


def silent_mp3(frames: int = 10) -> bytes:
    """MP3 frames whose side information is zero: they decode to silence."""
    return (_MP3_HEADER + b"\0" * (_MP3_FRAME - len(_MP3_HEADER))) * frames


def parse_multipart(content_type: str, raw: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    """The text fields and the files of a multipart/form-data body."""
    msg = message_from_bytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw, policy=HTTP
    )
    fields: dict[str, str] = {}
    files: dict[str, Any] = {}
    if not msg.is_multipart():
        return fields, files
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = {
                "filename": filename,
                "content_type": part.get_content_type(),
                "data": data,
            }
        else:
            fields[name] = data.decode("utf-8")
    return fields, files


def _bad(handler: Any, message: str) -> None:
    handler._send_json(
        400, {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    )


def handle(fake: Any, handler: Any, path: str, raw: bytes) -> None:
    """Answer one ``/v1/audio/*`` request (see the module docstring)."""
    from tests.fakellm import _error_body

    headers = {k.lower(): v for k, v in handler.headers.items()}
    record: dict[str, Any] = {"path": path, "headers": headers}
    ctype = headers.get("content-type", "")
    if path == "/v1/audio/transcriptions":
        record["content_type"] = ctype
        if not ctype.startswith("multipart/form-data"):
            fake._record_audio(record)
            _bad(handler, "Expected a multipart/form-data body")
            return
        record["fields"], record["files"] = parse_multipart(ctype, raw)
    elif path == "/v1/audio/speech":
        try:
            record["json"] = json.loads(raw or b"{}")
        except ValueError:
            fake._record_audio(record)
            _bad(handler, "body is not JSON")
            return
    else:
        handler._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
        return
    fake._record_audio(record)
    if fake.audio_error is not None:
        handler._send_json(
            fake.audio_error.status, _error_body(fake.audio_error, "openai", "audio")
        )
        return
    if path == "/v1/audio/transcriptions":
        fields, files = record["fields"], record["files"]
        if "file" not in files or not fields.get("model"):
            _bad(handler, "'file' and 'model' are required")
            return
        if fields.get("response_format") == "text":
            handler._send_raw(200, fake.transcript.encode(), "text/plain; charset=utf-8")
        else:
            handler._send_json(200, {"text": fake.transcript})
        return
    body = record["json"]
    if not (
        isinstance(body, dict) and body.get("model") and body.get("input") and body.get("voice")
    ):
        _bad(handler, "'model', 'input' and 'voice' are required")
        return
    fmt = body.get("response_format") or "mp3"
    if fmt not in SPEECH_TYPES:
        _bad(handler, f"unknown response_format {fmt!r}")
        return
    audio = fake.speech_audio
    if audio is None:
        audio = silent_wav() if fmt == "wav" else silent_mp3()
    handler._send_raw(200, audio, SPEECH_TYPES[fmt])
