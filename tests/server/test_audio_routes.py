"""``POST /v1/audio/transcriptions`` and ``/v1/audio/speech``: a real LocalRuntime
behind the server, its audio models on the fake model server, RemoteRuntime
and plain HTTP as clients."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.errors import ConfigError, MediaError
from muxi_cli.runtime.local import LocalRuntime
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.server import audio_routes
from muxi_cli.server.audio_routes import AUDIO_ROUTES
from muxi_cli.server.context import ServerSettings
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.media.avfiles import spoken_wav
from tests.server.conftest import start_server, stop_server

AUDIO = "audio:\n  transcribe: openai/whisper-1\n  speech: openai/tts-1\n  voice: nova\n"


@dataclass
class AudioServed:
    url: str
    fake: FakeLLM
    alice: str
    wav: bytes

    def remote(self) -> RemoteRuntime:
        return RemoteRuntime(self.url, self.alice, label="test")

    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.alice}"}


async def _serve(fake: FakeLLM, tmp_path: Path, extra: str) -> AsyncIterator[AudioServed]:
    config = fake.write_formation(tmp_path, extra=extra)
    runtime = await LocalRuntime.open(
        config, start_tools=False, sessions_path=tmp_path / "sessions.db"
    )
    keys = KeyStore(tmp_path / "server_keys.json")
    _, alice = keys.create("user", "alice")
    url, server, task = await start_server(runtime, keys, ServerSettings(rate=0))
    try:
        yield AudioServed(url, fake, alice, spoken_wav(tmp_path))
    finally:
        await stop_server(server, task)
        await runtime.aclose()


@pytest.fixture
async def served(fake_llm: FakeLLM, tmp_path: Path) -> AsyncIterator[AudioServed]:
    async for s in _serve(fake_llm, tmp_path, AUDIO):
        yield s


@pytest.fixture
async def bare(fake_llm: FakeLLM, tmp_path: Path) -> AsyncIterator[AudioServed]:
    """No audio models configured."""
    async for s in _serve(fake_llm, tmp_path, ""):
        yield s


async def test_remote_transcribe_reaches_the_provider_as_multipart(served: AudioServed) -> None:
    served.fake.transcript = "hello from muxi"
    remote = served.remote()
    try:
        text = await remote.transcribe(served.wav, media_type="audio/wav", name="memo.wav")
    finally:
        await remote.aclose()
    assert text == "hello from muxi"
    (req,) = served.fake.audio_requests
    assert req["fields"]["model"] == "whisper-1"
    sent = req["files"]["file"]
    assert sent == {"filename": "memo.wav", "content_type": "audio/wav", "data": served.wav}


async def test_remote_speak_returns_the_models_audio(served: AudioServed) -> None:
    served.fake.speech_audio = b"\xff\xfb\x90\x44" + b"\0" * 413
    remote = served.remote()
    try:
        audio = await remote.speak("Hello there.", fmt="mp3")
    finally:
        await remote.aclose()
    assert audio == served.fake.speech_audio
    assert served.fake.audio_requests[-1]["json"] == {
        "model": "tts-1",
        "input": "Hello there.",
        "voice": "nova",
        "response_format": "mp3",
    }
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await c.post(
            "/v1/audio/speech", json={"input": "Hi.", "format": "opus"}, headers=served.auth()
        )
    assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg"


async def test_without_a_speech_model_the_server_speaks_with_espeak(bare: AudioServed) -> None:
    async with httpx.AsyncClient(base_url=bare.url, timeout=60) as c:
        r = await c.post(
            "/v1/audio/speech", json={"input": "Hello.", "format": "wav"}, headers=bare.auth()
        )
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.content[:4] == b"RIFF" and bare.fake.audio_requests == []


async def test_without_a_transcription_model_the_error_names_the_setting(
    bare: AudioServed,
) -> None:
    remote = bare.remote()
    try:
        with pytest.raises(ConfigError, match=r"audio\.transcribe"):
            await remote.transcribe(bare.wav, media_type="audio/wav")
    finally:
        await remote.aclose()


async def test_garbage_audio_is_422_and_never_reaches_the_provider(served: AudioServed) -> None:
    remote = served.remote()
    try:
        with pytest.raises(MediaError):
            await remote.transcribe(os.urandom(4000), media_type="audio/mpeg")
    finally:
        await remote.aclose()
    assert served.fake.audio_requests == []


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"json": {"file": "x"}}, 400, "usage_error"),
        ({"files": {"other": ("a.wav", b"RIFF", "audio/wav")}}, 400, "usage_error"),
        ({"files": {"file": ("a.png", b"\x89PNG\r\n", "image/png")}}, 422, "bad_media"),
        ({"files": {"file": ("a.wav", b"x" * 3000, "audio/wav")}}, 413, "media_too_large"),
    ],
    ids=["not-multipart", "no-file-part", "not-audio", "too-large"],
)
async def test_bad_uploads_are_4xx(
    served: AudioServed,
    monkeypatch: pytest.MonkeyPatch,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    monkeypatch.setattr(audio_routes, "MAX_AUDIO_BYTES", 2000)
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await c.post("/v1/audio/transcriptions", headers=served.auth(), **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert served.fake.audio_requests == []


async def test_bad_speech_requests_are_400(served: AudioServed) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        for body in ({"input": ""}, {"input": "hi", "format": "flac"}, {"text": "hi"}):
            r = await c.post("/v1/audio/speech", json=body, headers=served.auth())
            assert r.status_code == 400, (body, r.text)
    assert served.fake.audio_requests == []


async def test_the_audio_routes_need_a_key(served: AudioServed) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        for method, path, _kind in AUDIO_ROUTES:
            r = await c.request(method, path, files={"file": ("a.wav", served.wav, "audio/wav")})
            assert r.status_code == 401, (path, r.text)
            r = await c.request(method, path, headers={"authorization": "Bearer nope"})
            assert r.status_code == 401
    assert served.fake.audio_requests == []
