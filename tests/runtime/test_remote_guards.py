"""RemoteRuntime (the CLI's ``muxi chat --profile`` side) against stand-in servers
(standard library and websockets, loopback): no real ``muxi serve`` of this
checkout speaks another API major or breaks a stream on demand.

- A server of another major is a clear error, on HTTP answers and on the
  WebSocket's ``ready`` frame before any chat frame is sent.
- A keyed start answered by a proxy's bare 502 is sent again with its key.
- An SSE turn closed while its broken stream waits to resume never resumes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from muxi_cli.errors import MuxiError
from muxi_cli.protocol import apiversion
from muxi_cli.protocol.events import RunStarted
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from tests.client.test_retries import Answer, Scripted, ok, turn_stream


@pytest.fixture
def stub() -> Iterator[Scripted]:
    s = Scripted()
    s.thread.start()
    try:
        yield s
    finally:
        s.server.shutdown()
        s.server.server_close()
        s.thread.join(timeout=5)


def versioned(answer: Answer, version: str) -> Answer:
    status, body, headers = answer
    return status, body, {**headers, apiversion.HEADER: version}


async def test_an_answer_of_another_major_is_a_clear_error(stub: Scripted) -> None:
    stub.script["GET /v1/agents"] = [versioned(ok([]), "2.0")]
    stub.script["POST /v1/chat"] = [versioned(turn_stream(), "2.0")]
    rt = RemoteRuntime(stub.url, "muxi_x")
    try:
        with pytest.raises(MuxiError) as caught:
            await rt.agents()
        assert caught.value.code == apiversion.UNSUPPORTED
        assert "2.0" in caught.value.message and apiversion.API_VERSION in caught.value.message
        with pytest.raises(MuxiError) as chat:
            await rt.chat(ChatRequest(message="hi"))
        assert chat.value.code == apiversion.UNSUPPORTED
        assert stub.count("POST /v1/chat") == 1  # refused, not retried
        # The same major (any minor), or no header (a 1.0 server): fine.
        stub.script["GET /v1/agents"] = [versioned(ok([]), "1.9")]
        assert await rt.agents() == []
        stub.script["GET /v1/agents"] = [ok([])]
        assert await rt.agents() == []
    finally:
        await rt.aclose()


async def test_a_websocket_of_another_major_never_receives_a_turn() -> None:
    from websockets.asyncio.server import ServerConnection, serve

    frames: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        ready = {"type": "ready", "key_id": "k", "role": "user", "user_id": "u", "version": "9"}
        await ws.send(json.dumps({**ready, "api_version": "2.0"}))
        async for raw in ws:
            frame = json.loads(raw)
            frames.append(frame)
            if frame.get("type") == "chat":  # a 2.x server would run it: answer as one
                started = {"type": "run.started", "run_id": "run_1", "session_id": "ses_1"}
                await ws.send(json.dumps({**started, "v": 2, "seq": 1, "agent": "a"}))

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        rt = RemoteRuntime(f"http://127.0.0.1:{port}", "muxi_x", reconnect_attempts=1)
        try:
            with pytest.raises(MuxiError) as caught:
                await rt.chat(ChatRequest(message="run the tool", approval="interactive"))
        finally:
            await rt.aclose()
    assert caught.value.code == apiversion.UNSUPPORTED and "2.0" in caught.value.message
    assert [f for f in frames if f.get("type") == "chat"] == [], "the turn was sent"


async def test_a_keyed_start_a_proxy_answered_with_502_is_sent_again(stub: Scripted) -> None:
    bare = (502, b"<html>bad gateway</html>", {"content-type": "text/html"})
    stub.script["POST /v1/chat"] = [bare, bare, turn_stream()]
    stub.script["GET /v1/agents"] = [versioned(ok([]), "1.2")]  # it keeps keys
    rt = RemoteRuntime(stub.url, "muxi_x")
    try:
        await rt.agents()
        turn = await rt.chat(ChatRequest(message="hi"))
        events = [e async for e in turn.events()]
    finally:
        await rt.aclose()
    assert events[-1].type == "run.completed" and stub.count("POST /v1/chat") == 3
    # A muxi answer (its own error body) is the server's word: not repeated.
    stub.script["POST /v1/chat"] = [(503, b'{"error":{"code":"busy","message":"busy"}}', {})]
    rt = RemoteRuntime(stub.url, "muxi_x")
    try:
        with pytest.raises(MuxiError):
            await rt.chat(ChatRequest(message="hi"))
    finally:
        await rt.aclose()
    assert stub.count("POST /v1/chat") == 4


@pytest.mark.parametrize("version", [None, "1.1"])
async def test_a_lost_sse_start_is_not_sent_again_to_a_server_without_keys(
    stub: Scripted, version: str | None
) -> None:
    """A server older than 1.2 ignores the key: a start a proxy answered for
    after the POST went may have been read, so it is not sent again."""
    bare = (502, b"<html>bad gateway</html>", {"content-type": "text/html"})
    stub.script["GET /v1/agents"] = [versioned(ok([]), version) if version else ok([])]
    stub.script["POST /v1/chat"] = [bare, turn_stream()]
    rt = RemoteRuntime(stub.url, "muxi_x")
    try:
        await rt.agents()
        with pytest.raises(MuxiError):
            await rt.chat(ChatRequest(message="hi"))
    finally:
        await rt.aclose()
    assert stub.count("POST /v1/chat") == 1


async def test_a_closed_sse_turn_never_resumes(stub: Scripted) -> None:
    """The stream breaks after the first event; the reader waits to resume; the
    turn is closed meanwhile. The resume used to go out anyway (a new stream on
    a closed turn, following a run nobody reads)."""
    first = RunStarted(run_id="run_1", session_id="ses_1", agent="a")
    broken = (
        200,
        f"id: 1\ndata: {first.to_json()}\n\n".encode(),
        {"content-type": "text/event-stream", "x-muxi-run-id": "run_1"},
    )
    stub.script["POST /v1/chat"] = [broken]
    stub.script["POST /v1/runs/run_1/cancel"] = [ok({})]
    rt = RemoteRuntime(stub.url, "muxi_x", on_notice=lambda _msg: None)
    try:
        turn = await rt.chat(ChatRequest(message="hi"))
        read: list[Any] = []
        seen = asyncio.Event()

        async def reader() -> None:
            async for event in turn.events():
                read.append(event)
                seen.set()

        task = asyncio.create_task(reader())
        await asyncio.wait_for(seen.wait(), 10)
        await turn.aclose()
        # The reader ends once its resume was decided (after the 0.25 s backoff).
        await asyncio.wait_for(task, 10)
    finally:
        await rt.aclose()
    assert stub.count("GET /v1/runs/run_1/events") == 0
    assert [e.type for e in read] == ["run.started"]
    assert stub.count("POST /v1/runs/run_1/cancel") == 1


@pytest.mark.parametrize("api_version", [None, "1.1"])
async def test_a_lost_start_is_not_sent_again_to_a_server_without_keys(
    api_version: str | None,
) -> None:
    """A server older than 1.2 ignores the chat frame's idempotency key: a resend
    of a start it had read would run the turn (and its tools) a second time."""
    from websockets.asyncio.server import ServerConnection, serve

    chats: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        ready: dict[str, Any] = {"type": "ready", "key_id": "k", "role": "user", "user_id": "u"}
        if api_version is not None:
            ready["api_version"] = api_version
        await ws.send(json.dumps(ready))
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "chat":  # read (and started), then the connection drops
                chats.append(frame)
                await ws.close()
                return

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        rt = RemoteRuntime(f"http://127.0.0.1:{port}", "muxi_x")
        try:
            with pytest.raises(MuxiError):
                await rt.chat(ChatRequest(message="run the tool", approval="interactive"))
        finally:
            await rt.aclose()
    assert len(chats) == 1, "the start was sent again to a server that ignores its key"
