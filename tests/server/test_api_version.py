"""The API version on the wire: every answer says it, other majors are refused
clearly (400 for the header, 404 for a ``/v<N>/`` path, close 4400 for a
WebSocket), and a client that says nothing (API 1.0) keeps working."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from muxi_cli.protocol import apiversion
from muxi_cli.protocol.apiversion import API_VERSION, HEADER, UNSUPPORTED
from tests.server.conftest import Served

pytestmark = pytest.mark.timeout(60)


def ws_url(served: Served) -> str:
    return "ws" + served.url[4:] + "/v1/ws"


async def recv(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 10)))


def test_parse() -> None:
    assert apiversion.parse("1.1") == (1, 1)
    assert apiversion.parse(" 1 ") == (1, 0)
    assert apiversion.parse("2.0") == (2, 0)
    for bad in ("", "v1", "1.", "1.x", "1.2.3", "١.١", "-1.0", "1.1 beta"):
        with pytest.raises(ValueError):
            apiversion.parse(bad)
    assert apiversion.compatible("1.7") and not apiversion.compatible("2.0")
    assert apiversion.parse(API_VERSION)[0] == apiversion.API_MAJOR


async def test_every_answer_carries_the_version(served: Served) -> None:
    alice = served.headers(served.alice)
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as c:
        answers = [
            await c.get("/health"),
            await c.get("/openapi.json"),
            await c.get("/docs"),
            await c.get("/v1/schema/events"),
            await c.get("/v1/me", headers=alice),
            await c.get("/v1/me"),  # 401
            await c.get("/v1/nowhere", headers=alice),  # 404
            await c.post("/v1/chat", headers=alice, json={"message": ""}),  # 400
            await c.post("/v1/chat", headers=alice, content=b"x" * 5_000_000),  # 413
        ]
        async with c.stream(
            "POST",
            "/v1/chat",
            headers={**alice, "accept": "text/event-stream"},
            json={"message": "hi"},
        ) as sse:
            assert sse.headers["content-type"].startswith("text/event-stream")
            answers.append(sse)
            await sse.aread()
    statuses = [r.status_code for r in answers]
    assert statuses == [200, 200, 200, 200, 200, 401, 404, 400, 413, 200]
    for r in answers:
        assert r.headers.get(HEADER) == API_VERSION, (r.url, r.status_code)
        assert len(r.headers.get_list(HEADER)) == 1


# "1.1, 1.0": a proxy folded two headers into one list, as HTTP allows.
@pytest.mark.parametrize("asked", ["1", "1.0", "1.1", "1.7", "1.12", "1.1, 1.1", "1.1,1.0"])
async def test_any_minor_of_this_major_is_served(served: Served, asked: str) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as c:
        r = await c.get("/v1/me", headers={**served.headers(served.alice), HEADER: asked})
    assert r.status_code == 200 and r.json()["user_id"] == "alice"


@pytest.mark.parametrize(
    ("asked", "said"),
    [
        ("2.0", "asked for 2.0"),
        ("0.9", "asked for 0.9"),
        ("3", "asked for 3.0"),
        ("v1", "'v1'"),
        ("1.1, 2.0", "asked for 2.0"),
    ],
)
async def test_another_major_is_refused_with_400(served: Served, asked: str, said: str) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as c:
        # Refused before the key is even looked at: the answer is the same without one.
        for headers in ({HEADER: asked}, {**served.headers(served.alice), HEADER: asked}):
            r = await c.get("/v1/me", headers=headers)
            assert r.status_code == 400
            assert r.headers[HEADER] == API_VERSION
            error = r.json()["error"]
            assert error["code"] == UNSUPPORTED
            assert error["message"].startswith(f"this server speaks muxi API {API_VERSION}")
            assert said in error["message"] and error["hint"]


@pytest.mark.parametrize("path", ["/v2/chat", "/v2", "/v0/me", "/v10/sessions/x"])
async def test_a_path_of_another_major_is_404_with_the_code(served: Served, path: str) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as c:
        r = await c.get(path, headers=served.headers(served.alice))
        other = await c.get("/vendor/x")  # not a version: an ordinary 404
    assert r.status_code == 404 and r.headers[HEADER] == API_VERSION
    assert r.json()["error"]["code"] == UNSUPPORTED
    assert "path asks for version" in r.json()["error"]["message"]
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"


async def test_the_websocket_says_its_version_in_ready_and_the_handshake(served: Served) -> None:
    headers = {**served.headers(served.alice), HEADER: "1.0"}
    async with connect(ws_url(served), additional_headers=headers) as ws:
        assert ws.response is not None and ws.response.headers[HEADER] == API_VERSION
        ready = await recv(ws)
        assert ready["type"] == "ready" and ready["api_version"] == API_VERSION
    async with connect(ws_url(served)) as ws:  # no header: an API 1.0 client
        await ws.send(json.dumps({"type": "auth", "key": served.bob}))
        assert (await recv(ws))["api_version"] == API_VERSION


@pytest.mark.parametrize("asked", ["2.0", "nope"])
async def test_the_websocket_refuses_another_major_with_4400(served: Served, asked: str) -> None:
    headers = {**served.headers(served.alice), HEADER: asked}
    async with connect(ws_url(served), additional_headers=headers) as ws:
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["ref"] == "version"
        assert frame["error"]["code"] == UNSUPPORTED
        assert API_VERSION in frame["error"]["message"]
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4400


@pytest.mark.parametrize("asked", ["2.0", "nope", 2])
async def test_the_auth_frame_s_version_is_checked_like_the_header(
    served: Served, asked: object
) -> None:
    # A browser cannot set the header on the handshake: its auth frame says the
    # version, and another major is refused the same way, before the key is read.
    async with connect(ws_url(served)) as ws:
        await ws.send(json.dumps({"type": "auth", "key": served.bob, "api_version": asked}))
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["ref"] == "version"
        assert frame["error"]["code"] == UNSUPPORTED
        assert API_VERSION in frame["error"]["message"]
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4400
    # The version is checked first: even a wrong key gets the version refusal.
    async with connect(ws_url(served)) as ws:
        await ws.send(json.dumps({"type": "auth", "key": "muxi_nope", "api_version": "3.1"}))
        assert (await recv(ws))["ref"] == "version"


@pytest.mark.parametrize("asked", ["1.1", "1", "1.7", None])
async def test_the_auth_frame_s_version_of_this_major_is_served(
    served: Served, asked: str | None
) -> None:
    async with connect(ws_url(served)) as ws:
        await ws.send(json.dumps({"type": "auth", "key": served.bob, "api_version": asked}))
        ready = await recv(ws)
        assert ready["type"] == "ready" and ready["api_version"] == API_VERSION


async def test_a_websocket_to_another_major_path_is_told_why(served: Served) -> None:
    """``/v2/ws`` was a bare handshake 403; like ``/v2/...`` over HTTP (and the
    header on ``/v1/ws``) it now says ``unsupported_api_version`` and closes 4400."""
    async with connect(ws_url(served).replace("/v1/", "/v2/")) as ws:
        assert ws.response is not None and ws.response.headers[HEADER] == API_VERSION
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["ref"] == "version"
        assert frame["error"]["code"] == UNSUPPORTED
        assert "path asks for version 2" in frame["error"]["message"]
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4400
