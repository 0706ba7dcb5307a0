"""The API version: sent on every request, checked on every answer.

A stand-in HTTP server (standard library, on loopback) plays a server of
another major version, which no real ``muxi serve`` of this checkout is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from muxi_cli.client import API_VERSION, AsyncClient, Client, errors
from muxi_cli.client.transport import check_version
from muxi_cli.protocol import apiversion
from tests.client.conftest import Served


class Stub:
    """Answers ``GET /v1/me`` with ``version`` in ``Muxi-Api-Version`` (None: no header)."""

    def __init__(self) -> None:
        self.version: str | None = "2.0"
        self.seen: list[dict[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stub.seen.append({k.lower(): v for k, v in self.headers.items()})
                data = json.dumps({"key_id": "k", "role": "user", "user_id": "u"}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if stub.version is not None:
                    self.send_header(apiversion.HEADER, stub.version)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    s.thread.start()
    try:
        yield s
    finally:
        s.server.shutdown()
        s.server.server_close()
        s.thread.join(timeout=5)


def test_the_client_carries_the_api_version() -> None:
    assert API_VERSION == apiversion.API_VERSION == "1.2"


async def test_another_major_is_refused_and_no_header_is_accepted(stub: Stub) -> None:
    async with AsyncClient(stub.url, "muxi_x") as c:
        with pytest.raises(errors.UnsupportedApiVersion) as caught:
            await c.me()
        assert caught.value.code == "unsupported_api_version"
        assert "2.0" in caught.value.message and API_VERSION in caught.value.message
        stub.version = "1.7"  # minors are additive
        assert (await c.me())["role"] == "user"
        stub.version = None  # a 1.0 server sends none
        assert (await c.me())["role"] == "user"
    assert {h["muxi-api-version"] for h in stub.seen} == {API_VERSION}


@pytest.mark.parametrize("value", ["2.0", "0.9", "v1", "1.x", "1.1, 2.0"])
def test_check_version_refuses(value: str) -> None:
    with pytest.raises(errors.UnsupportedApiVersion):
        check_version({apiversion.HEADER: value}, "here")


@pytest.mark.parametrize("value", ["1.1", "1.1, 1.1", "1.0,1.1"])
def test_check_version_takes_a_header_a_proxy_repeated(value: str) -> None:
    # A proxy may fold a repeated header into one comma-separated value.
    check_version({apiversion.HEADER: value}, "here")


async def test_http_and_websocket_share_the_headers(client: AsyncClient, served: Served) -> None:
    """The WebSocket handshake sends what ServerClient.headers() says (remote_ws
    takes that function), so the version goes there too."""
    assert client._t.server.headers()[apiversion.HEADER] == API_VERSION
    assert client._rt._ws_turns._headers()[apiversion.HEADER] == API_VERSION
    assert (await client.me())["user_id"] == "alice"


def test_the_sync_client_raises_the_same(stub: Stub) -> None:
    with Client(stub.url, "muxi_x") as c, pytest.raises(errors.UnsupportedApiVersion):
        c.me()


async def test_a_websocket_of_another_major_never_receives_a_turn() -> None:
    """The WebSocket's ``ready`` frame names the server's API version. The client
    read it only after sending the chat frame, so a server of another major
    ran the turn (tools and all) before the client refused its answer."""
    from websockets.asyncio.server import ServerConnection, serve

    frames: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "ready",
                    "key_id": "k",
                    "role": "user",
                    "user_id": "u",
                    "version": "9",
                    "api_version": "2.0",
                }
            )
        )
        async for raw in ws:
            frame = json.loads(raw)
            frames.append(frame)
            if frame.get("type") == "chat":  # a 2.x server would run it: answer as one
                started = {
                    "type": "run.started",
                    "run_id": "run_1",
                    "session_id": "ses_1",
                    "v": 2,
                    "seq": 1,
                    "agent": "a",
                }
                await ws.send(json.dumps(started))

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with AsyncClient(f"http://127.0.0.1:{port}", "muxi_x") as c:
            with pytest.raises(errors.UnsupportedApiVersion) as caught:
                await c.chat("run the tool", approval="interactive")
    assert "2.0" in caught.value.message
    assert [f for f in frames if f.get("type") == "chat"] == [], "the turn was sent"
