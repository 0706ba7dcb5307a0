"""Review of issue 16: a real `muxi serve`'s media quota and upload places."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import wave
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.security.support_server import FORMATION_NO_MCP, Deployment, deployment

#: --max-upload-mb 0.25 and --media-quota-mb 1 (in bytes).
QUOTA = 1_048_576


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("media_attacks")
    args = ("--rate", "0", "--max-upload-mb", "0.25", "--media-quota-mb", "1")
    with deployment(root, FORMATION_NO_MCP, args=args) as d:
        yield d


def noisy_pdf(n: int) -> bytes:
    """A one-page text PDF carrying ``n`` random bytes (a distinct file each call)."""
    blob = os.urandom(n)
    text = b"BT /F1 12 Tf 20 100 Td (Hello) Tj ET"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(blob) + blob + b"\nendstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1,
        xref,
    )
    return out


def used(c: httpx.Client, key: str) -> int:
    return int(c.get("/v1/media", headers=Deployment.headers(key)).json()["used"])


async def test_concurrent_inline_attachments_stay_within_the_quota(dep: Deployment) -> None:
    # check_attachments (server/media_access.py) only pre-checks inline files
    # against --media-quota-mb; the engine then stores them through the store,
    # whose own quota is the formation's (none here). Forty requests sent at
    # once each pass the pre-check: on main bob ends up storing ~2.4 MB with a
    # 1 MB quota (and more with more requests).
    headers = dep.headers(dep.bob)

    async def one(c: httpx.AsyncClient, i: int) -> int:
        body = {
            "message": f"read {i}",
            "stream": False,
            "attachments": [
                {
                    "name": f"n{i}.pdf",
                    "mime": "application/pdf",
                    "content": base64.b64encode(noisy_pdf(60_000)).decode(),
                }
            ],
        }
        return (await c.post("/v1/chat", json=body, headers=headers)).status_code

    async with httpx.AsyncClient(base_url=dep.url, timeout=120) as c:
        codes = await asyncio.gather(*[one(c, i) for i in range(40)])
    assert 200 in codes  # the attack ran (some turns were accepted)
    with dep.client() as c:
        assert used(c, dep.bob) <= QUOTA


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 8000)
    return out.getvalue()


async def test_a_voice_turn_cut_at_its_end_frame_gives_its_upload_place_back(
    dep: Deployment,
) -> None:
    # ws_media._end_audio hands the upload place to a task that releases it in
    # a finally; closing the socket right after audio.end cancels that task
    # (ws.Session.run's finally) before it ever ran, so the finally never runs.
    # On main: after three such voice turns alice's uploads are refused with
    # 429 "this user already has uploads in progress" until the server restarts
    # (and four users can take all 8 of the server's places this way).
    headers = dep.headers(dep.alice)
    wav = _wav()
    for _ in range(3):
        async with connect(dep.ws_url, additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            await ws.send(json.dumps({"type": "audio.begin", "size": len(wav), "name": "v.wav"}))
            await ws.send(wav)
            await ws.send(json.dumps({"type": "audio.end"}))
    status = 0
    async with httpx.AsyncClient(base_url=dep.url) as c:
        for _ in range(50):
            r = await c.post(
                "/v1/media",
                files={"file": ("x.txt", os.urandom(8).hex().encode(), "text/plain")},
                headers=headers,
            )
            status = r.status_code
            if status == 201:
                break
            await asyncio.sleep(0.2)
    assert status == 201, r.text


@pytest.mark.parametrize(
    "frame",
    [
        {"type": ["chat"]},  # unhashable: `kind in _STARTS_WORK` raises TypeError
        {"type": "audio.begin", "size": 10, "format": ["mp3"]},  # `fmt not in SPEECH_TYPES`
        {"type": "audio.begin", "size": 10, "format": {"a": 1}},
    ],
)
async def test_malformed_frames_are_error_frames_not_dropped_connections(
    dep: Deployment, frame: dict[str, object]
) -> None:
    # On main the TypeError escapes Session.run (it only catches MuxiError,
    # WebSocketDisconnect and RuntimeError): the socket is dropped with no
    # close frame and the server logs a traceback.
    async with connect(dep.ws_url, additional_headers=dep.headers(dep.bob)) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(json.dumps(frame))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert answer["type"] == "error"
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"


def test_a_multipart_body_without_its_closing_boundary_stores_nothing(dep: Deployment) -> None:
    # uploads.read_upload calls parser.finalize() but never checks that the
    # parser reached the closing boundary: a body cut short (chunked, or with a
    # Content-Length matching the cut body) is stored as a complete file.
    # On main: 201 and the truncated bytes stored.
    cut = os.urandom(16).hex().encode()
    body = (
        b'--bnd\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\n\r\n' + cut
    )
    with dep.client() as c:
        r = c.post(
            "/v1/media",
            content=body,
            headers={**dep.headers(dep.bob), "content-type": "multipart/form-data; boundary=bnd"},
        )
        assert r.status_code == 400, r.text


def test_an_uploaded_text_file_reaches_the_model_within_the_text_limit(dep: Deployment) -> None:
    # core/attachments.check_attachments joins an uploaded text file (media_id)
    # to the message whole: no MAX_TEXT_CHARS (200 000) cut as derived text
    # gets, no MAX_MESSAGE as inline text gets. With the default
    # --max-upload-mb (20) a user sends 20 MB of text to the model each turn,
    # and it is stored again in the session's history. Here: 250 000 chars.
    from muxi_cli.media.prepare import MAX_TEXT_CHARS

    text = ("lorem ipsum " * 30_000)[:250_000].encode()
    # alice: bob's quota is filled by the quota test of this module's server.
    with dep.client() as c:
        r = c.post(
            "/v1/media",
            files={"file": ("big.txt", text, "text/plain")},
            headers=dep.headers(dep.alice),
        )
        assert r.status_code == 201, r.text
        media_id = r.json()["id"]
        sent = len(dep.llm.requests)
        r = c.post(
            "/v1/chat",
            json={
                "message": "summarise",
                "stream": False,
                "attachments": [{"name": "big.txt", "media_id": media_id}],
            },
            headers=dep.headers(dep.alice),
            timeout=60,
        )
        assert r.status_code == 200, r.text
    request = dep.llm.requests[sent]
    size = len(json.dumps(request.get("messages") or request))
    assert size < MAX_TEXT_CHARS + 20_000, size


def test_a_damaged_tiff_upload_is_a_4xx_not_a_500(dep: Deployment) -> None:
    # Pillow raises TypeError("Missing dimensions") in normalize(); on main the
    # upload route answers 500 internal_error (and logs a traceback).
    from pathlib import Path

    data = (Path(__file__).parent / "files" / "fuzz-missing-dimensions.tif").read_bytes()
    with dep.client() as c:
        r = c.post(
            "/v1/media",
            files={"file": ("scan.tif", data, "image/tiff")},
            headers=dep.headers(dep.bob),
        )
    assert 400 <= r.status_code < 500, r.text


def test_audio_to_transcribe_is_held_to_the_upload_limit(dep: Deployment) -> None:
    # /v1/audio/transcriptions took 25 MB whatever --max-upload-mb said.
    data = os.urandom(300_000)  # over --max-upload-mb 0.25
    with dep.client() as c:
        r = c.post(
            "/v1/audio/transcriptions",
            files={"file": ("memo.mp3", data, "audio/mpeg")},
            headers=dep.headers(dep.alice),
        )
    assert r.status_code == 413, r.text
