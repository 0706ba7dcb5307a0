"""Upload limits: per file (announced or not), per user quota, rate, concurrency."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from muxi_cli.server.context import ServerSettings
from muxi_cli.server.limits import RateLimiter, UploadGate
from tests.security.support_server import await_until
from tests.server.conftest import Served
from tests.server.test_media_routes import err, upload

MAX = 100_000
BOUNDARY = "muxi-test-boundary"


@pytest.fixture
def settings() -> ServerSettings:
    return ServerSettings(
        rate=0,
        auth_fail_burst=100_000,
        max_upload=MAX,
        media_quota=3 * MAX,
        upload_rate=6000,
        upload_burst=1000,
        upload_idle=1.0,
    )


def multipart(data: bytes, name: str = "blob.bin") -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


async def chunked(body: bytes, size: int = 16_384) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


async def used(c: httpx.AsyncClient, served: Served, key: str) -> int:
    return int((await c.get("/v1/media", headers=served.headers(key))).json()["used"])


async def test_a_file_over_the_limit_announced_by_content_length_is_refused_unread(
    served: Served,
) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        # Far over: the header alone refuses it.
        r = await c.post(
            "/v1/media",
            content=multipart(os.urandom(4 * MAX)),
            headers=served.headers(
                served.alice, **{"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
            ),
        )
        assert r.status_code == 413, r.text
        assert err(r)["code"] == "media_too_large"
        # Just over the file limit (within the form's framing allowance): cut while reading.
        r = await upload(c, served, served.alice, os.urandom(MAX + 1))
        assert r.status_code == 413, r.text
        assert err(r)["code"] == "media_too_large"
        assert await used(c, served, served.alice) == 0
        ok = await upload(c, served, served.alice, os.urandom(MAX))
        assert ok.status_code == 201, ok.text


async def test_a_body_without_length_is_cut_at_the_limit(served: Served) -> None:
    headers = served.headers(
        served.alice, **{"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    )
    async with httpx.AsyncClient(base_url=served.url) as c:
        # Chunked, no Content-Length: refused once the file passes the limit.
        r = await c.post(
            "/v1/media", content=chunked(multipart(os.urandom(3 * MAX))), headers=headers
        )
        assert r.status_code == 413, r.text
        assert err(r)["code"] == "media_too_large"
        # Junk that never closes its part is cut by the body limit, not buffered.
        r = await c.post(
            "/v1/media",
            content=chunked(b"--" + BOUNDARY.encode() + b"\r\n" + b"x" * (3 * MAX)),
            headers=headers,
        )
        assert r.status_code in (400, 413), r.text
        assert await used(c, served, served.alice) == 0
        assert (await c.get("/health")).status_code == 200


async def test_the_quota_stops_many_small_uploads(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        codes = []
        for _ in range(6):
            r = await upload(c, served, served.alice, os.urandom(MAX // 2 + 1))
            codes.append(r.status_code)
            if r.status_code == 413:
                assert err(r)["code"] == "media_too_large"
                assert "--media-quota-mb" in err(r)["hint"]
        assert codes == [201] * 5 + [413]
        assert await used(c, served, served.alice) <= 3 * MAX
        # Bob has a quota of his own.
        assert (await upload(c, served, served.bob, os.urandom(1000))).status_code == 201


async def test_a_paused_upload_times_out_and_stores_nothing(served: Served) -> None:
    body = multipart(os.urandom(5000))

    async def stalls() -> AsyncIterator[bytes]:
        yield body[:1000]
        await asyncio.sleep(3)  # longer than upload_idle (1 s)
        yield body[1000:]

    async with httpx.AsyncClient(base_url=served.url, timeout=10) as c:
        headers = served.headers(
            served.alice, **{"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
        )
        try:
            r = await c.post("/v1/media", content=stalls(), headers=headers)
            assert r.status_code == 408, r.text
        except httpx.HTTPError:
            pass  # the server may close before the client finished writing
        assert await used(c, served, served.alice) == 0


async def test_an_upload_cut_mid_stream_leaves_nothing(served: Served) -> None:
    from urllib.parse import urlsplit

    gate = served.server.config.app.state.ctx.media.gate
    body = multipart(os.urandom(50_000))
    host = urlsplit(served.url)
    _reader, writer = await asyncio.open_connection(host.hostname, host.port)
    writer.write(
        (
            f"POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {served.alice}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body[: len(body) // 2]
    )
    await writer.drain()
    await await_until(lambda: gate.active == 1, 10, "the upload never started")
    writer.close()
    await writer.wait_closed()
    await await_until(lambda: gate.active == 0, 10, "the cut upload was never dropped")
    async with httpx.AsyncClient(base_url=served.url) as c:
        assert await used(c, served, served.alice) == 0
        assert (await upload(c, served, served.alice, b"hello")).status_code == 201


async def test_uploads_are_rate_limited_per_user(served: Served) -> None:
    media = served.server.config.app.state.ctx.media
    media.limiter = RateLimiter(1 / 60, 2)  # two uploads, then one a minute
    async with httpx.AsyncClient(base_url=served.url) as c:
        codes = [(await upload(c, served, served.alice, b"n%d" % i)).status_code for i in range(3)]
        assert codes == [201, 201, 429]
        r = await upload(c, served, served.alice, b"again")
        assert "retry-after" in r.headers
        assert (await upload(c, served, served.bob, b"bob's")).status_code == 201


def test_upload_gate_counts_per_user_and_in_total() -> None:
    gate = UploadGate(max_total=3, per_user=2)
    assert gate.enter("a") is None and gate.enter("a") is None
    assert gate.enter("a") == "user"
    assert gate.enter("b") is None
    assert gate.enter("c") == "server"
    gate.leave("a")
    assert gate.enter("c") is None
    for user in ("a", "b", "c"):
        gate.leave(user)
    assert gate.active == 0


async def test_transcription_uploads_have_their_own_limit_not_max_body(served: Served) -> None:
    # Their limit is the smaller of 25 MB and --max-upload-mb (MAX here).
    audio = b"RIFF" + os.urandom(1_500_000)  # above --max-body (1,000,000)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        r = await c.post(
            "/v1/audio/transcriptions",
            files={"file": ("memo.wav", audio, "audio/wav")},
            headers=served.headers(served.alice),
        )
        assert r.status_code == 413 and err(r)["code"] == "media_too_large", r.text
        assert f"{MAX:,}" in err(r)["message"]
        r = await c.post(
            "/v1/audio/transcriptions",
            files={"file": ("memo.wav", audio[:MAX], "audio/wav")},
            headers=served.headers(served.alice),
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"text": served.runtime.transcript}
        r = await c.post(
            "/v1/chat",
            json={"message": "x" * 10, "title": "y" * 150, "system": "z" * 1_100_000},
            headers=served.headers(served.alice),
        )
        assert r.status_code == 413 and err(r)["code"] == "payload_too_large"


async def test_files_sent_inline_in_a_chat_count_against_the_quota(served: Served) -> None:
    import base64

    async with httpx.AsyncClient(base_url=served.url) as c:
        for _ in range(5):  # 5 x 50 KB of the 300 KB quota
            assert (await upload(c, served, served.alice, os.urandom(MAX // 2))).status_code == 201
        inline = base64.b64encode(os.urandom(MAX // 2 + 1000)).decode()
        body = {
            "message": "look",
            "attachments": [{"name": "x.bin", "content": inline, "mime": "image/png"}],
        }
        before = len(served.runtime.requests)
        r = await c.post("/v1/chat", json=body, headers=served.headers(served.alice))
        assert r.status_code == 413, r.text
        assert err(r)["code"] == "media_too_large"
        assert len(served.runtime.requests) == before  # no turn started
        # Bob, who stores nothing, may send the same.
        r = await c.post("/v1/chat", json=body, headers=served.headers(served.bob))
        assert r.status_code == 200, r.text
