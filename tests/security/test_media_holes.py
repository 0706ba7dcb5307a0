"""Attacks on a real `muxi serve`'s media: other users' files, guessed ids,
oversize and cut uploads, the quota, active content, WebSocket floods."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.security.support_server import FORMATION_NO_MCP, Deployment, deployment

#: --max-upload-mb 0.25 and --media-quota-mb 1 (in bytes).
MAX = 262_144
QUOTA = 1_048_576
BOUNDARY = "muxi-attack"


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("media-holes")
    args = (
        "--rate",
        "0",
        "--max-upload-mb",
        "0.25",
        "--media-quota-mb",
        "1",
        "--max-body",
        "100000",
    )
    with deployment(root, FORMATION_NO_MCP, args=args) as d:
        yield d


def png(seed: int, size: tuple[int, int] = (16, 12)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (seed % 256, (seed * 7) % 256, 99)).save(out, "PNG")
    return out.getvalue()


def noise_png(side: int) -> bytes:
    """A PNG that does not compress (about 3 bytes per pixel)."""
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


def up(c: httpx.Client, key: str, data: bytes, name: str = "f.png", **form: str) -> httpx.Response:
    return c.post(
        "/v1/media",
        files={"file": (name, data, "application/octet-stream")},
        data=form or None,
        headers=Deployment.headers(key),
    )


def used(c: httpx.Client, key: str) -> int:
    return int(c.get("/v1/media", headers=Deployment.headers(key)).json()["used"])


def store_files(dep: Deployment) -> list[Path]:
    """Every stored or half-written file under the server's media folder (its
    index database, directly in the folder, left out). A server that has stored
    nothing yet may have no media folder: that is no file."""
    root = dep.proc.home / "data" / "media"
    assert root.parent.is_dir(), root  # the test would prove nothing otherwise
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.parent != root)


def raw_request(dep: Deployment, head: str, body: bytes, answer: bool = False) -> bytes:
    """Send a request head and part of a body, then hang up (after reading the
    whole answer when ``answer``: its head and ``Content-Length`` bytes of body,
    which may come in separate packets)."""
    url = urlsplit(dep.url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10) as s:
        s.sendall(head.encode() + body)
        if not answer:
            return b""
        got = b""
        while True:
            head_end = got.find(b"\r\n\r\n")
            if head_end >= 0:
                length = 0
                for line in got[:head_end].split(b"\r\n")[1:]:
                    key, _, value = line.partition(b":")
                    if key.strip().lower() == b"content-length":
                        length = int(value.strip())
                if len(got) >= head_end + 4 + length:
                    return got
            chunk = s.recv(4096)
            if not chunk:
                return got
            got += chunk


def test_another_users_media_is_out_of_reach(dep: Deployment) -> None:
    with dep.client() as c:
        ref = up(c, dep.alice, png(1), name="alice-secret.png").json()
        bob = dep.headers(dep.bob)
        missing = hashlib.sha256(b"nothing").hexdigest()
        for path in ("", "/info"):
            foreign = c.get(f"/v1/media/{ref['id']}{path}", headers=bob)
            absent = c.get(f"/v1/media/{missing}{path}", headers=bob)
            assert foreign.status_code == absent.status_code == 404
            assert foreign.json()["error"]["hint"] == absent.json()["error"]["hint"]
            assert "alice" not in foreign.text
        assert c.delete(f"/v1/media/{ref['id']}", headers=bob).status_code == 404
        # Admin keys act as a user: their own "admin" user has none of alice's files.
        assert c.get(f"/v1/media/{ref['id']}", headers=dep.headers(dep.admin)).status_code == 404
        # Chat: another user's id is refused before the turn starts.
        body = {"message": "x", "attachments": [{"name": "x.png", "media_id": ref["id"]}]}
        r = c.post("/v1/chat", json=body, headers=bob)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        got = c.get(f"/v1/media/{ref['id']}", headers=dep.headers(dep.alice))
        assert got.status_code == 200 and got.content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "media_id",
    [
        "..%2F..%2Fserver_keys.json",
        "%2e%2e%2f%2e%2e%2fdata%2fserver_keys.json",
        "..\\..\\server_keys.json",
        "A" * 64,
        "0" * 63,
        "0" * 65,
        "*",
        "%00" + "0" * 60,
    ],
)
def test_guessed_and_traversing_ids_find_nothing(dep: Deployment, media_id: str) -> None:
    with dep.client() as c:
        for method, path in (("GET", ""), ("GET", "/info"), ("DELETE", "")):
            r = c.request(method, f"/v1/media/{media_id}{path}", headers=dep.headers(dep.alice))
            assert r.status_code in (400, 404), (media_id, r.status_code, r.text)
            assert "muxi_" not in r.text


def test_an_id_prefix_is_not_an_id(dep: Deployment) -> None:
    with dep.client() as c:
        ref = up(c, dep.alice, png(2)).json()
        alice = dep.headers(dep.alice)
        for prefix in (ref["id"][:8], ref["id"][:63]):
            assert c.get(f"/v1/media/{prefix}", headers=alice).status_code == 404


def test_oversize_uploads_store_nothing_with_or_without_a_length(dep: Deployment) -> None:
    before = store_files(dep)
    with dep.client() as c:
        start = used(c, dep.bob)
        r = up(c, dep.bob, noise_png(400))  # ~480 KB of PNG
        assert r.status_code == 413 and r.json()["error"]["code"] == "media_too_large"

        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
        ).encode()

        def chunks() -> Iterator[bytes]:
            yield head
            for _ in range(64):  # 4 MB, never announced
                yield os.urandom(65_536)

        r = c.post(
            "/v1/media",
            content=chunks(),
            headers=dep.headers(
                dep.bob, **{"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
            ),
        )
        assert r.status_code == 413, r.text
        # A 2 GB announcement is refused before a byte of it is read.
        answer = raw_request(
            dep,
            f"POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {dep.bob}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {2 * 1024**3}\r\n\r\n",
            b"x" * 1000,
            answer=True,
        )
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b"media_too_large" in answer
        assert used(c, dep.bob) == start
    assert store_files(dep) == before


def test_a_cut_upload_leaves_nothing_half_stored(dep: Deployment) -> None:
    before = store_files(dep)
    data = noise_png(200)
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="cut.png"\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        f"POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {dep.bob}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    raw_request(dep, head, body[: len(body) // 2])
    with dep.client() as c:
        # The server is up, and the same file uploaded whole is stored once, complete.
        r = up(c, dep.bob, data, name="cut.png")
        assert r.status_code == 201, r.text
        got = c.get(f"/v1/media/{r.json()['id']}", headers=dep.headers(dep.bob))
        assert hashlib.sha256(got.content).hexdigest() == r.json()["id"]
        c.delete(f"/v1/media/{r.json()['id']}", headers=dep.headers(dep.bob))
    assert store_files(dep) == before
    assert not [p for p in store_files(dep) if p.name.endswith(".tmp")]


def test_many_small_uploads_stop_at_the_quota(dep: Deployment) -> None:
    with dep.client() as c:
        key = dep.keys.create("user", "hoarder")[1]
        codes = []
        for i in range(12):  # 12 x ~120 KB against a 1 MB quota
            r = up(c, key, noise_png(200), name=f"{i}.png")
            codes.append(r.status_code)
            if r.status_code != 201:
                assert r.status_code == 413 and r.json()["error"]["code"] == "media_too_large"
        assert 201 in codes and codes[-1] == 413
        assert used(c, key) <= QUOTA
        # Other users are not affected.
        assert up(c, dep.alice, png(3)).status_code == 201


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("evil.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("evil.html", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"),
    ],
)
def test_active_content_is_only_ever_downloaded(dep: Deployment, name: str, data: bytes) -> None:
    with dep.client() as c:
        r = up(c, dep.alice, data, name=name)
        if r.status_code == 422:  # refused as a kind muxi does not read: fine too
            assert r.json()["error"]["code"] == "bad_media"
            return
        assert r.status_code == 201, r.text
        got = c.get(f"/v1/media/{r.json()['id']}", headers=dep.headers(dep.alice))
        assert got.status_code == 200
        assert got.headers["content-disposition"].startswith("attachment;")
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in got.headers["content-security-policy"]


async def _recv(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 15)))


async def test_websocket_floods_close_the_socket_and_the_server_stays_up(dep: Deployment) -> None:
    headers = dep.headers(dep.alice)
    # More bytes than announced: 1009.
    async with connect(dep.ws_url, additional_headers=headers) as ws:
        assert (await _recv(ws))["type"] == "ready"
        await ws.send(json.dumps({"type": "media.begin", "size": 100}))
        await ws.send(os.urandom(5000))
        assert (await _recv(ws))["error"]["code"] == "media_too_large"
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 15)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    # One frame above the frame limit (--max-body 100000): 1009 too.
    async with connect(dep.ws_url, additional_headers=headers, max_size=None) as ws:
        assert (await _recv(ws))["type"] == "ready"
        await ws.send(json.dumps({"type": "media.begin", "size": MAX}))
        await ws.send(os.urandom(200_000))
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 15)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    # A begin above --max-upload-mb is refused before any byte; the socket stays.
    async with connect(dep.ws_url, additional_headers=headers) as ws:
        assert (await _recv(ws))["type"] == "ready"
        await ws.send(json.dumps({"type": "media.begin", "size": 10 * MAX}))
        assert (await _recv(ws))["error"]["code"] == "media_too_large"
        # The refused upload's bytes are dropped unanswered; the next text frame counts.
        await ws.send(os.urandom(1000))
        await ws.send(json.dumps({"type": "ping"}))
        assert (await _recv(ws))["type"] == "pong"
        # Binary junk outside an upload is an error frame, not a crash.
        await ws.send(b"\xff\xfe\x00junk")
        assert (await _recv(ws))["type"] == "error"
    async with httpx.AsyncClient(base_url=dep.url) as c:
        assert (await c.get("/health")).status_code == 200
        assert (await c.get("/v1/media", headers=headers)).status_code == 200
