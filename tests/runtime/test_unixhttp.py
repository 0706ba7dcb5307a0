"""The standard-library HTTP client a local host is reached with (runtime/unixhttp.py).

Against the real server on a socket: the whole Runtime contract (SSE turns,
cancels, sessions, memory, errors), uploads and media. Against small raw
servers on a socket, for what the muxi server does not send: each way an
answer's body is framed, answers cut short or never given, a page that is not
muxi's, a dropped SSE turn. Every failure must map to the MuxiError (and exit
code) the httpx path gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from muxi_cli.errors import (
    ConnectionFailedError,
    ExitCode,
    MediaError,
    MuxiError,
    NotFoundError,
    ServerAuthError,
)
from muxi_cli.protocol import events as ev
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.client import ServerClient
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.runtime.unixhttp import Headers, encode_body, query
from muxi_cli.runtime.wire import UNIX_URL, Timeout, error_from_body
from tests.fakellm import FakeLLM
from tests.runtime.contract import Harness, RuntimeContract, collect
from tests.server.udsfixtures import UdsServed

Reply = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


class TestUnixSocketRuntimeContract(RuntimeContract):
    """RemoteRuntime over the socket, its HTTP through the standard-library client."""

    @pytest.fixture
    async def harness(self, uds_served: UdsServed, fake_llm: FakeLLM) -> AsyncIterator[Harness]:
        runtime = uds_served.remote()
        try:
            yield Harness(runtime, fake_llm, "remote")
        finally:
            await runtime.aclose()


# --------------------------------------------------------------------------- the real server


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


async def test_uploads_and_media_over_the_socket(uds_served: UdsServed) -> None:
    rt = uds_served.remote()
    try:
        data = _png()
        ref = await rt.put_media(data, name='red "dot".png', media_type="image/png")
        assert ref.media_type == "image/png" and ref.size > 0
        info, got = await rt.get_media(ref.id)
        assert info.id == ref.id and got.startswith(b"\x89PNG")
        with pytest.raises(MediaError) as bad:
            await rt.put_media(b"%PDF-1.4 not really", name="x.png", media_type="image/png")
        assert bad.value.exit_code == ExitCode.USAGE
        with pytest.raises(NotFoundError):
            await rt.get_media("0" * 64)
    finally:
        await rt.aclose()
    assert not rt._server.opened  # closed with the runtime


async def test_the_servers_errors_over_the_socket(uds_served: UdsServed) -> None:
    async with ServerClient(f"unix:{uds_served.socket}", "muxi_0000000000_" + "x" * 43) as c:
        with pytest.raises(ServerAuthError):
            await c.request("GET", "/v1/me")
        health = await c.send("GET", "/health", auth=False)
        assert health.status_code == 200 and "version" in health.json()
    rt = uds_served.remote()
    try:
        with pytest.raises(NotFoundError) as info:
            await rt.session("s_nobody")
        assert info.value.exit_code == ExitCode.RUNTIME or info.value.code == "not_found"
        assert [s.id for s in await rt.sessions(query="nothing like it")] == []
    finally:
        await rt.aclose()


# --------------------------------------------------------------------------- raw servers


@contextlib.asynccontextmanager
async def raw_server(sock: Path, reply: Reply) -> AsyncIterator[list[bytes]]:
    """A server on ``sock`` that reads one request (head and body) per connection
    and lets ``reply`` answer it; yields the requests it got."""
    got: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = Headers(
                [tuple(x.split(": ", 1)) for x in head.decode().split("\r\n")[1:] if x]  # type: ignore[misc]
            ).get("content-length", "0")
            request = head + await reader.readexactly(int(length))
            got.append(request)
            await reply(request, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_unix_server(handle, path=str(sock))
    try:
        yield got
    finally:
        server.close()
        await server.wait_closed()


def answer(raw: bytes, *, hold: asyncio.Event | None = None) -> Reply:
    async def reply(_request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()
        if hold is not None:
            await hold.wait()

    return reply


JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        JSON_HEAD + b"Content-Length: 13\r\n\r\n" + b'{"a": [1, 2]}',
        JSON_HEAD + b"transfer-encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"a":\r\n8\r\n [1, 2]}\r\n0\r\nx-trailer: 1\r\n\r\n',
        JSON_HEAD + b"connection: close\r\n\r\n" + b'{"a": [1, 2]}',
        b"HTTP/1.1 100 Continue\r\n\r\n" + JSON_HEAD + b'content-length: 13\r\n\r\n{"a": [1, 2]}',
    ],
    ids=["length", "chunked", "until-close", "interim-100"],
)
async def test_each_framing_of_a_body(sock_dir: Path, raw: bytes) -> None:
    sock = sock_dir / "raw.sock"
    async with raw_server(sock, answer(raw)), ServerClient(f"unix:{sock}", "k") as client:
        assert await client.request("GET", "/x") == {"a": [1, 2]}


async def test_what_every_request_carries(sock_dir: Path) -> None:
    sock = sock_dir / "raw.sock"
    ok = answer(JSON_HEAD + b"content-length: 2\r\n\r\n{}")
    async with raw_server(sock, ok) as got, ServerClient(f"unix:{sock}", "muxi_k") as client:
        await client.request(
            "POST",
            "/v1/x",
            user_id="bob",
            params={"q": "a b&c", "n": 3, "f": True, "z": None},
            json_body={"text": "héllo"},
        )
        await client.send("GET", "/health", auth=False)
        with pytest.raises(ConnectionFailedError):  # never sent: a header cannot hold a line break
            await client.request("GET", "/x", user_id="bob\r\nx-muxi-user-id: admin")
    head, body = got[0].split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/x?q=a+b%26c&n=3&f=true HTTP/1.1"
    sent = Headers([tuple(x.split(": ", 1)) for x in lines[1:]])  # type: ignore[misc]
    assert sent["host"] == "muxi-host" and sent["authorization"] == "Bearer muxi_k"
    assert sent["x-muxi-user-id"] == "bob" and sent["user-agent"] == "muxi-remote"
    assert sent["content-type"] == "application/json" and json.loads(body) == {"text": "héllo"}
    assert "authorization" not in got[1].decode().lower() and len(got) == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 5\r\n\r\n<h1/>", "unexpected HTTP 502"),
        (b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n", "rejected the API key"),
        (
            b'HTTP/1.1 503 x\r\ncontent-length: 69\r\n\r\n{"error": {"code": "memory_error", '
            b'"message": "the store is locked"}}',
            "the store is locked",
        ),
        (JSON_HEAD + b"content-length: 6\r\n\r\n<html>", "sent a non-JSON answer"),
    ],
    ids=["5xx-page", "bare-401", "5xx-muxi", "not-json"],
)
async def test_error_answers_map_as_over_tcp(sock_dir: Path, raw: bytes, expected: str) -> None:
    sock = sock_dir / "raw.sock"
    async with raw_server(sock, answer(raw)), ServerClient(f"unix:{sock}", "k") as client:
        with pytest.raises(MuxiError, match=expected) as info:
            await client.request("GET", "/x")
    status, _, rest = raw.partition(b" ")[2].partition(b" ")
    same = error_from_body(int(status), rest.partition(b"\r\n\r\n")[2] if status != b"200" else b"")
    if status != b"200":  # the same error as the httpx path makes of that answer
        assert type(info.value) is type(same) and info.value.exit_code == same.exit_code
    if "502" in expected:
        assert info.value.message == f"unexpected HTTP 502 from {UNIX_URL}"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "Server disconnected without sending a response"),
        (b"hello there\r\n\r\n", "RemoteProtocolError: not an HTTP/1.1 answer"),
        (JSON_HEAD + b"content-length: 40\r\n\r\n{}", "RemoteProtocolError: peer closed"),
        (JSON_HEAD + b"transfer-encoding: chunked\r\n\r\n9\r\n{}", "incomplete chunked read"),
        (JSON_HEAD + b"transfer-encoding: chunked\r\n\r\nzz\r\n", "a malformed length"),
    ],
    ids=["nothing", "not-http", "short-length", "short-chunks", "bad-chunk-size"],
)
async def test_broken_answers_are_connection_failures(sock_dir: Path, raw: bytes, why: str) -> None:
    sock = sock_dir / "raw.sock"
    async with raw_server(sock, answer(raw)), ServerClient(f"unix:{sock}", "k") as client:
        with pytest.raises(ConnectionFailedError, match=why) as info:
            await client.request("GET", "/x")
    assert info.value.exit_code == ExitCode.RUNTIME
    assert info.value.message.startswith(f"cannot reach the muxi server at {UNIX_URL} (socket")


async def test_a_silent_server_times_out(sock_dir: Path) -> None:
    sock = sock_dir / "raw.sock"
    hold = asyncio.Event()
    try:
        async with (
            raw_server(sock, answer(b"", hold=hold)),
            ServerClient(f"unix:{sock}", "k", timeout=0.2) as client,
        ):
            with pytest.raises(ConnectionFailedError, match="ReadTimeout"):
                await client.request("GET", "/x")
            with pytest.raises(ConnectionFailedError, match="ReadTimeout"):
                await client.request("GET", "/x", timeout=Timeout(5.0, read=0.1))
    finally:
        hold.set()


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"x-muxi-run-id: run_1\r\nx-muxi-session-id: s_1\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _sse_chunk(event: ev.Event) -> bytes:
    data = f"data: {json.dumps(ev.to_dict(event))}\r\n\r\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_an_sse_turn_cut_short_ends_with_connection_failed(sock_dir: Path) -> None:
    sock = sock_dir / "raw.sock"
    started = ev.RunStarted(run_id="run_1", session_id="s_1", agent="a")
    delta = ev.TextDelta(run_id="run_1", session_id="s_1", text="half a rep")
    # Split mid-chunk: the server goes away inside the second event.
    raw = SSE_HEAD + _sse_chunk(started) + _sse_chunk(delta)[:-7]
    notices: list[str] = []
    rt = RemoteRuntime(UNIX_URL, "k", uds=sock, label="host", on_notice=notices.append)
    try:
        async with raw_server(sock, answer(raw)):
            turn = await rt.chat(ChatRequest(message="hi"))
            assert (turn.run_id, turn.session_id) == ("run_1", "s_1")
            events = await collect(turn)
    finally:
        await rt.aclose()
    assert [e.type for e in events] == [ev.RUN_STARTED, ev.RUN_FAILED]
    assert isinstance(events[-1], ev.RunFailed) and events[-1].code == "connection_failed"
    assert notices and "incomplete chunked read" in notices[0]


async def test_a_dropped_sse_turn_closes_the_connection(sock_dir: Path) -> None:
    """Leaving a turn early closes its connection: the server sees the client go."""
    sock = sock_dir / "raw.sock"
    gone = asyncio.Event()
    started = ev.RunStarted(run_id="run_1", session_id="s_1", agent="a")

    async def reply(request: bytes, writer: asyncio.StreamWriter) -> None:
        if not request.startswith(b"POST /v1/chat "):  # the cancel: the run has ended
            writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 53\r\n\r\n")
            writer.write(b'{"error": {"code": "not_found", "message": "no run"}}')
            return
        writer.write(SSE_HEAD + _sse_chunk(started))
        await writer.drain()
        while not writer.transport.is_closing():
            writer.write(b"1\r\n\n\r\n")  # keep-alive bytes until the client is gone
            try:
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0.01)
        gone.set()

    rt = RemoteRuntime(UNIX_URL, "k", uds=sock, label="host")
    try:
        async with raw_server(sock, reply):
            async with await rt.chat(ChatRequest(message="hi")) as turn:
                async for event in turn.events():
                    assert event.type == ev.RUN_STARTED
                    break
            await asyncio.wait_for(gone.wait(), 10)
    finally:
        await rt.aclose()


def test_bodies_are_encoded_as_httpx_encodes_them() -> None:
    body, kind = encode_body(None, {"file": ('a"b\\c\n.png', b"PNG", "image/png")}, {"t": "x"})
    assert kind is not None and kind.startswith("multipart/form-data; boundary=")
    boundary = kind.split("=", 1)[1].encode()
    assert body is not None and body.startswith(b"--" + boundary + b"\r\n")
    assert b'name="t"\r\n\r\nx\r\n' in body
    assert b'name="file"; filename="a%22b\\\\c%0A.png"\r\nContent-Type: image/png' in body
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n")
    assert encode_body({"a": 1}) == (b'{"a":1}', "application/json")
    assert encode_body(form={"a": "b c"}) == (b"a=b+c", "application/x-www-form-urlencoded")
    assert encode_body() == (None, None)
    assert query({"a": False, "b": None}) == "?a=false&b=" and query({}) == ""
