"""Uploads and a voice turn against a real LocalRuntime behind the server: its
media store, its transcription and speech models on the fake model server."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from muxi_cli.runtime.local import LocalRuntime
from muxi_cli.server.context import ServerSettings
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Text
from tests.media.avfiles import spoken_wav
from tests.server.conftest import start_server, stop_server
from tests.server.test_ws import recv

AUDIO = "audio:\n  transcribe: openai/whisper-1\n  speech: openai/tts-1\n  voice: nova\n"


@dataclass
class Local:
    url: str
    fake: FakeLLM
    runtime: LocalRuntime
    alice: str
    bob: str
    tmp: Path

    def auth(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}


@pytest.fixture
async def local(fake_llm: FakeLLM, tmp_path: Path) -> AsyncIterator[Local]:
    config = fake_llm.write_formation(tmp_path, extra=AUDIO)
    runtime = await LocalRuntime.open(
        config, start_tools=False, sessions_path=tmp_path / "sessions.db"
    )
    keys = KeyStore(tmp_path / "server_keys.json")
    _, alice = keys.create("user", "alice")
    _, bob = keys.create("user", "bob")
    settings = ServerSettings(rate=0, media_quota=2_000_000)
    url, server, task = await start_server(runtime, keys, settings)
    try:
        yield Local(url, fake_llm, runtime, alice, bob, tmp_path)
    finally:
        await stop_server(server, task)
        await runtime.aclose()


def photo_with_gps() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (40, 30), "orange")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0)}  # GPS
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def test_uploads_land_in_the_runtimes_store_per_user(local: Local) -> None:
    data = photo_with_gps()
    async with httpx.AsyncClient(base_url=local.url) as c:
        r = await c.post(
            "/v1/media",
            files={"file": ("p.jpg", data, "image/jpeg")},
            headers=local.auth(local.alice),
        )
        assert r.status_code == 201, r.text
        ref = r.json()
        assert ref["media_type"] == "image/jpeg" and ref["meta"] == {"width": 40, "height": 30}
        got = await c.get(f"/v1/media/{ref['id']}", headers=local.auth(local.alice))
        assert b"SpyCam" in data and b"SpyCam" not in got.content  # metadata stripped
        assert hashlib.sha256(got.content).hexdigest() == ref["id"]
        # The runtime's own store holds it for alice only.
        store = local.runtime.store.media
        assert store.for_owner("alice").has(ref["id"])
        assert not store.for_owner("bob").has(ref["id"])
        assert (
            await c.get(f"/v1/media/{ref['id']}", headers=local.auth(local.bob))
        ).status_code == 404
        # A file whose claimed type lies is refused, and nothing is stored.
        r = await c.post(
            "/v1/media",
            files={"file": ("x.pdf", b"%PDF-1.4 truncated", "application/pdf")},
            data={"media_type": "image/png"},
            headers=local.auth(local.alice),
        )
        assert r.status_code == 422, r.text
        assert [m.id for m in store.for_owner("alice").list()] == [ref["id"]]
        # Deleted: gone from the store.
        assert (
            await c.delete(f"/v1/media/{ref['id']}", headers=local.auth(local.alice))
        ).status_code == 204
        assert not store.for_owner("alice").has(ref["id"])


async def test_voice_turn_over_the_socket(local: Local) -> None:
    wav = spoken_wav(local.tmp)
    local.fake.transcript = "what is two and two"
    local.fake.speech_audio = b"ID3" + b"\x00" * 70_000
    local.fake.script(Text("Four."))
    headers = local.auth(local.alice)
    async with connect("ws" + local.url[4:] + "/v1/ws", additional_headers=headers) as ws:
        assert (await recv(ws))["type"] == "ready"
        begin = {"type": "audio.begin", "name": "q.wav", "size": len(wav), "speak": True}
        await ws.send(json.dumps(begin))
        for i in range(0, len(wav), 48 * 1024):
            await ws.send(wav[i : i + 48 * 1024])
        await ws.send(json.dumps({"type": "audio.end"}))
        frames: list[dict[str, Any]] = []
        while (frame := await recv(ws))["type"] != "done":
            frames.append(frame)
    types = [f["type"] for f in frames]
    assert types[0] == "transcript.delta" and frames[0]["text"] == "what is two and two"
    assert "Four." in "".join(f["text"] for f in frames if f["type"] == "text.delta")
    audio = b"".join(base64.b64decode(f["data"]) for f in frames if f["type"] == "audio.delta")
    assert audio == local.fake.speech_audio
    assert types.index("run.completed") < types.index("audio.delta")
    # The model got the transcript as the user's message; the audio is the session's.
    last = local.fake.last_request
    assert "what is two and two" in json.dumps(last)
    session = frame["session_id"]
    async with httpx.AsyncClient(base_url=local.url) as c:
        listed = (await c.get(f"/v1/sessions/{session}/media", headers=headers)).json()
    assert [m["id"] for m in listed] == [hashlib.sha256(wav).hexdigest()]
    assert listed[0]["media_type"].startswith("audio/")
