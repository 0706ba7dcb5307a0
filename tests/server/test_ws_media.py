"""WebSocket uploads (media.begin, binary frames, media.end) and voice turns."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from muxi_cli.server.context import ServerSettings
from tests.security.support_server import await_until
from tests.server.conftest import Served
from tests.server.test_ws import recv, ws_url

MAX = 200_000


@pytest.fixture
def settings() -> ServerSettings:
    return ServerSettings(
        rate=0,
        auth_fail_burst=100_000,
        max_body=65_536,  # also the WebSocket frame limit
        max_upload=MAX,
        upload_idle=1.0,
    )


async def ready(ws: Any) -> None:
    assert (await recv(ws))["type"] == "ready"


async def send_file(
    ws: Any, data: bytes, kind: str = "media", chunk: int = 60_000, **begin: Any
) -> None:
    await ws.send(json.dumps({"type": f"{kind}.begin", "size": len(data), **begin}))
    for i in range(0, len(data), chunk):
        await ws.send(data[i : i + chunk])
    await ws.send(json.dumps({"type": f"{kind}.end"}))


def gate(served: Served) -> Any:
    return served.server.config.app.state.ctx.media.gate


async def test_upload_over_the_socket_then_chat_with_it(served: Served) -> None:
    data = b"%PDF-1.4 " + os.urandom(150_000)
    async with connect(ws_url(served), additional_headers=served.headers(served.alice)) as ws:
        await ready(ws)
        await send_file(ws, data, name="../report.pdf", media_type="application/pdf")
        stored = await recv(ws)
        assert stored["type"] == "media.stored", stored
        ref = stored["media"]
        assert ref["id"] == hashlib.sha256(data).hexdigest()
        assert (ref["name"], ref["size"], ref["media_type"]) == (
            "report.pdf",
            len(data),
            "application/pdf",
        )
        await ws.send(
            json.dumps(
                {
                    "type": "chat",
                    "request": {
                        "message": "sum up",
                        "attachments": [{"name": "r.pdf", "media_id": ref["id"]}],
                    },
                }
            )
        )
        while (await recv(ws))["type"] != "done":
            pass
        assert served.runtime.requests[-1].attachments[0].media_id == ref["id"]
    async with httpx.AsyncClient(base_url=served.url) as c:
        got = await c.get(f"/v1/media/{ref['id']}", headers=served.headers(served.alice))
        assert got.content == data
    assert gate(served).active == 0


async def test_a_begin_over_the_limit_is_refused_before_any_byte(served: Served) -> None:
    async with connect(ws_url(served), additional_headers=served.headers(served.alice)) as ws:
        await ready(ws)
        await ws.send(json.dumps({"type": "media.begin", "size": MAX + 1, "name": "big.bin"}))
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["ref"] == "media.begin"
        assert frame["error"]["code"] == "media_too_large"
        for bad in ({"type": "media.begin"}, {"type": "media.begin", "size": "10"}):
            await ws.send(json.dumps(bad))
            assert (await recv(ws))["error"]["code"] == "usage_error"
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"
        await ws.send(json.dumps({"type": "media.end"}))
        assert "without a begin" in (await recv(ws))["error"]["message"]
    assert gate(served).active == 0


async def test_a_refused_upload_sent_without_waiting_gets_one_answer(served: Served) -> None:
    async with connect(ws_url(served), additional_headers=served.headers(served.alice)) as ws:
        await ready(ws)
        # Refused at begin: its bytes and its end frame are dropped unanswered.
        await ws.send(json.dumps({"type": "media.begin", "size": MAX + 1}))
        for _ in range(4):
            await ws.send(os.urandom(60_000))
        await ws.send(json.dumps({"type": "media.end"}))
        await ws.send(json.dumps({"type": "ping"}))
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["error"]["code"] == "media_too_large"
        assert (await recv(ws))["type"] == "pong"


async def test_the_remote_runtime_uploads_over_its_websocket(served: Served) -> None:
    from muxi_cli.errors import MediaTooLargeError

    rt = served.remote(served.alice)
    try:
        data = b"%PDF-1.7 " + os.urandom(150_000)
        ref = await rt._ws_turns.upload(data, name="doc.pdf")
        assert (ref.id, ref.size, ref.name) == (
            hashlib.sha256(data).hexdigest(),
            len(data),
            "doc.pdf",
        )
        with pytest.raises(MediaTooLargeError):
            await rt._ws_turns.upload(os.urandom(MAX + 1))
        # The connection is still good for the next upload.
        again = await rt._ws_turns.upload(b"plain text", name="a.txt")
        assert again.media_type == "text/plain"
    finally:
        await rt.aclose()
    assert served.runtime.media_store.for_owner("alice").has(ref.id)


async def test_more_bytes_than_announced_close_the_socket_with_1009(served: Served) -> None:
    async with connect(ws_url(served), additional_headers=served.headers(served.alice)) as ws:
        await ready(ws)
        await ws.send(json.dumps({"type": "media.begin", "size": 1000}))
        await ws.send(os.urandom(1001))
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["error"]["code"] == "media_too_large"
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    assert gate(served).active == 0
    async with httpx.AsyncClient(base_url=served.url) as c:
        assert (await c.get("/v1/media", headers=served.headers(served.alice))).json()["used"] == 0
        assert (await c.get("/health")).status_code == 200


async def test_a_frame_over_the_frame_limit_closes_the_socket(served: Served) -> None:
    async with connect(
        ws_url(served), additional_headers=served.headers(served.alice), max_size=None
    ) as ws:
        await ready(ws)
        await ws.send(json.dumps({"type": "media.begin", "size": 100_000}))
        await ws.send(os.urandom(100_000))  # one frame above --max-body (65,536)
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    await await_until(lambda: gate(served).active == 0, 10, "the upload place was kept")
    async with httpx.AsyncClient(base_url=served.url) as c:
        assert (await c.get("/health")).status_code == 200


async def test_short_uploads_stalls_and_aborts_store_nothing(served: Served) -> None:
    async with connect(ws_url(served), additional_headers=served.headers(served.alice)) as ws:
        await ready(ws)
        # Ended early.
        await ws.send(json.dumps({"type": "media.begin", "size": 1000}))
        await ws.send(os.urandom(10))
        await ws.send(json.dumps({"type": "media.end"}))
        frame = await recv(ws)
        assert frame["ref"] == "media.end" and "10 of 1,000" in frame["error"]["message"]
        # Other frames wait while an upload runs; abort frees it.
        await ws.send(json.dumps({"type": "media.begin", "size": 1000}))
        await ws.send(json.dumps({"type": "chat", "request": {"message": "hi"}}))
        frame = await recv(ws)
        assert frame["type"] == "error" and "in progress" in frame["error"]["message"]
        assert (await recv(ws))["type"] == "done"
        await ws.send(json.dumps({"type": "media.abort"}))
        # Stalled: dropped after upload_idle (1 s), the socket stays open.
        await ws.send(json.dumps({"type": "media.begin", "size": 1000}))
        await ws.send(os.urandom(10))
        frame = await recv(ws)
        assert frame["error"]["code"] == "request_timeout"
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"
    assert gate(served).active == 0
    async with httpx.AsyncClient(base_url=served.url) as c:
        assert (await c.get("/v1/media", headers=served.headers(served.alice))).json()["used"] == 0


async def test_a_socket_closed_mid_upload_stores_nothing(served: Served) -> None:
    async with connect(ws_url(served), additional_headers=served.headers(served.alice)) as ws:
        await ready(ws)
        await ws.send(json.dumps({"type": "media.begin", "size": 100_000}))
        await ws.send(os.urandom(50_000))
        await await_until(lambda: gate(served).active == 1, 10, "the upload never began")
    await await_until(lambda: gate(served).active == 0, 10, "the upload place was kept")
    assert served.runtime.media_store.for_owner("alice").usage() == 0


async def test_voice_turn_transcript_reply_and_speech(served: Served) -> None:
    audio = b"RIFF" + os.urandom(40_000)
    served.runtime.transcript = "  what is the weather  "
    async with connect(ws_url(served), additional_headers=served.headers(served.alice)) as ws:
        await ready(ws)
        await send_file(
            ws,
            audio,
            kind="audio",
            name="memo.wav",
            speak=True,
            format="wav",
            request={"title": "voice"},
        )
        frames = []
        while (frame := await recv(ws))["type"] != "done":
            frames.append(frame)
    types = [f["type"] for f in frames]
    assert types[0] == "transcript.delta" and frames[0]["text"] == "what is the weather"
    assert frames[0]["final"] is True
    assert types.index("run.completed") < types.index("audio.delta")
    deltas = [f for f in frames if f["type"] == "audio.delta"]
    assert [d["seq"] for d in deltas] == list(range(len(deltas)))
    assert [d["final"] for d in deltas] == [False] * (len(deltas) - 1) + [True]
    assert {d["media_type"] for d in deltas} == {"audio/wav"}
    assert {f["run_id"] for f in frames} == {frame["run_id"]}
    spoken = b"".join(base64.b64decode(d["data"]) for d in deltas)
    reply = next(f for f in frames if f["type"] == "run.completed")["text"]
    assert served.runtime.spoken == [reply]
    assert spoken == b"RIFF" + reply.encode() * 50
    # The turn ran on the transcript with the audio attached, and the audio is stored.
    req = served.runtime.requests[-1]
    assert req.message == "what is the weather" and req.title == "voice"
    assert req.attachments[0].media_id == hashlib.sha256(audio).hexdigest()
    assert served.runtime.transcribed == [(audio, "audio/wav")]
    assert gate(served).active == 0


async def test_voice_turn_without_speech_or_with_a_bad_request(served: Served) -> None:
    async with connect(ws_url(served), additional_headers=served.headers(served.alice)) as ws:
        await ready(ws)
        served.runtime.transcript = "hello"
        await send_file(ws, b"RIFF" + os.urandom(100), kind="audio")
        frames = []
        while (frame := await recv(ws))["type"] != "done":
            frames.append(frame)
        assert not [f for f in frames if f["type"] == "audio.delta"]
        # Nothing heard: an error, then done; no turn.
        served.runtime.transcript = "   "
        before = len(served.runtime.requests)
        await send_file(ws, b"RIFF" + os.urandom(200), kind="audio")
        frame = await recv(ws)
        assert frame["ref"] == "audio.end" and frame["error"]["code"] == "bad_media"
        assert (await recv(ws))["type"] == "done"
        assert len(served.runtime.requests) == before
        # The request is checked at audio.begin, before any audio is sent.
        for begin in (
            {"request": {"message": "x"}},
            {"request": {"agent": ""}},
            {"format": "flac"},
        ):
            await ws.send(json.dumps({"type": "audio.begin", "size": 10, **begin}))
            frame = await recv(ws)
            assert frame["type"] == "error" and frame["ref"] == "audio.begin", frame
    assert gate(served).active == 0
