"""The WebSocket: auth, approval round trips, cancel, several turns, reconnects."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from muxi_cli.errors import NotFoundError, ServerAuthError
from muxi_cli.protocol.events import Event, ToolApproval
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.protocol.turn import Turn
from tests.server.conftest import Served, start_server, stop_server
from tests.server.fakeruntime import Script


def ws_url(served: Served) -> str:
    return "ws" + served.url[4:] + "/v1/ws"


async def recv(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 10)))


async def test_auth_by_first_frame(served: Served) -> None:
    async with connect(ws_url(served)) as ws:
        await ws.send(json.dumps({"type": "auth", "key": served.alice}))
        ready = await recv(ws)
        assert ready["type"] == "ready" and ready["user_id"] == "alice"
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"


async def test_auth_by_header(served: Served) -> None:
    async with connect(ws_url(served), additional_headers=served.headers(served.bob)) as ws:
        ready = await recv(ws)
        assert ready["user_id"] == "bob" and ready["role"] == "user"


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "key": "muxi_0011223344_nope"},
        {"type": "chat", "request": {"message": "hi"}},
        "not json",
    ],
)
async def test_bad_auth_closes_with_an_error_frame(served: Served, first: Any) -> None:
    async with connect(ws_url(served)) as ws:
        await ws.send(first if isinstance(first, str) else json.dumps(first))
        frame = await recv(ws)
        assert frame["type"] == "error"
        assert frame["error"]["code"] in ("unauthorized", "usage_error")
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4401


async def test_a_key_in_the_query_string_is_not_accepted(served: Served) -> None:
    async with connect(ws_url(served) + f"?key={served.alice}&api_key={served.alice}") as ws:
        await ws.send(json.dumps({"type": "ping"}))
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["error"]["code"] == "unauthorized"


async def test_no_auth_frame_times_out(served: Served) -> None:
    served.server.config.app.state.ctx.settings.ws_auth_timeout = 0.2
    async with connect(ws_url(served)) as ws:
        frame = await recv(ws)
        assert frame["type"] == "error"
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4408


async def _collect(rt: Any, req: ChatRequest, on: Any = None) -> list[Event]:
    """The turn's events; ``on(event, turn)`` sees each one."""
    out = []
    async with await rt.chat(req) as turn:
        async for ev in turn.events():
            out.append(ev)
            if on is not None:
                await on(ev, turn)
    return out


async def test_approval_round_trip_over_the_socket(served: Served) -> None:
    served.runtime.script(Script(text="two plus two is four", tool=True))
    rt = served.remote(served.alice)
    try:

        async def on(ev: Event, turn: Turn) -> None:
            if isinstance(ev, ToolApproval) and ev.decision == "pending":
                await turn.approve(ev.call_id, "allow")

        events = await _collect(rt, ChatRequest(message="2+2?", approval="interactive"), on)
        types = [e.type for e in events]
        assert types[:2] == ["run.started", "agent.routed"]
        decisions = [e.decision for e in events if e.type == "tool.approval"]
        assert decisions == ["pending", "allowed"]
        result = next(e for e in events if e.type == "tool.result")
        assert result.ok is True and result.content == "4"
        assert types[-1] == "run.completed"
        assert events[-1].text == "two plus two is four"
        # Everything went over the WebSocket: no HTTP client was ever needed.
        assert not rt._server.opened
    finally:
        await rt.aclose()


async def test_denied_over_the_socket_and_several_turns(served: Served) -> None:
    served.runtime.script(Script(text="fine", tool=True), Script(text="second turn"))
    rt = served.remote(served.alice)
    try:

        async def on(ev: Event, turn: Turn) -> None:
            if isinstance(ev, ToolApproval) and ev.decision == "pending":
                await turn.approve(ev.call_id, "deny")

        first = await _collect(rt, ChatRequest(message="a", approval="interactive"), on)
        ws = rt._ws_turns.ws
        assert next(e for e in first if e.type == "tool.result").ok is False
        sid = first[0].session_id
        second = await _collect(
            rt, ChatRequest(message="b", approval="interactive", session_id=sid)
        )
        assert rt._ws_turns.ws is ws  # same connection
        assert second[-1].type == "run.completed" and second[-1].text == "second turn"
        assert second[0].session_id == sid
        msgs = await rt.messages(sid)
        assert [m.role for m in msgs] == ["user", "assistant", "user", "assistant"]
    finally:
        await rt.aclose()


async def test_cancel_over_the_socket_keeps_the_partial_reply(served: Served) -> None:
    hold = asyncio.Event()
    served.runtime.script(Script(text="partial words then more", hold=hold))
    rt = served.remote(served.alice)
    try:

        async def on(ev: Event, turn: Turn) -> None:
            if ev.type == "text.delta":
                await turn.cancel()

        events = await _collect(rt, ChatRequest(message="go", approval="interactive"), on)
        assert events[-1].type == "run.failed"
        assert events[-1].error["code"] == "cancelled"
        msgs = await rt.messages(events[0].session_id)
        assert msgs[-1].content == "partial " and msgs[-1].status == "cancelled"
        # The connection is still usable.
        again = await _collect(rt, ChatRequest(message="again", approval="interactive"))
        assert again[-1].type == "run.completed"
    finally:
        await rt.aclose()


async def test_closing_the_iterator_cancels_the_turn(served: Served) -> None:
    hold = asyncio.Event()
    served.runtime.script(Script(text="never finished here", hold=hold))
    rt = served.remote(served.alice)
    try:
        it = await rt.chat(ChatRequest(message="go", approval="interactive"))
        async for ev in it.events():
            if ev.type == "text.delta":
                break
        await it.aclose()
        await asyncio.wait_for(served.runtime.turn_closed.wait(), 10)
        sid = ev.session_id
        msgs = await rt.messages(sid)
        assert msgs[-1].content == "never " and msgs[-1].status == "cancelled"
        again = await _collect(rt, ChatRequest(message="again", approval="interactive"))
        assert again[-1].type == "run.completed"
    finally:
        await rt.aclose()


async def test_errors_before_the_turn_raise(served: Served) -> None:
    rt = served.remote(served.alice)
    bad = served.remote("muxi_0000000000_nope", reconnect_attempts=1)
    try:
        with pytest.raises(NotFoundError):
            await _collect(
                rt, ChatRequest(message="x", approval="interactive", session_id="s_nope")
            )
        # The connection survives a refused turn.
        ok = await _collect(rt, ChatRequest(message="y", approval="interactive"))
        assert ok[-1].type == "run.completed"
        with pytest.raises(ServerAuthError):
            await _collect(bad, ChatRequest(message="x", approval="interactive"))
    finally:
        await rt.aclose()
        await bad.aclose()


async def test_a_foreign_session_is_refused_and_the_socket_lives_on(served: Served) -> None:
    alice = served.remote(served.alice)
    bob = served.remote(served.bob)
    try:
        first = await _collect(alice, ChatRequest(message="mine", approval="interactive"))
        sid = first[0].session_id
        with pytest.raises(NotFoundError):
            await _collect(
                bob, ChatRequest(message="steal", approval="interactive", session_id=sid)
            )
        ok = await _collect(bob, ChatRequest(message="own", approval="interactive"))
        assert ok[-1].type == "run.completed" and ok[0].session_id != sid
        assert [m.content for m in served.runtime.messages_[sid]] == ["mine", "echo: mine"]
    finally:
        await alice.aclose()
        await bob.aclose()


async def test_a_second_chat_frame_while_busy_is_refused(served: Served) -> None:
    hold = asyncio.Event()
    served.runtime.script(Script(text="slow one", hold=hold))
    async with connect(ws_url(served), additional_headers=served.headers(served.alice)) as ws:
        await recv(ws)
        await ws.send(json.dumps({"type": "chat", "request": {"message": "a"}}))
        while (await recv(ws))["type"] != "text.delta":
            pass
        await ws.send(json.dumps({"type": "chat", "request": {"message": "b"}}))
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["ref"] == "chat"
        await ws.send(json.dumps({"type": "approve", "call_id": "nope", "decision": "allow"}))
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["ref"] == "approve"
        assert frame["error"]["code"] == "not_found"
        hold.set()
        types = []
        while not types or types[-1] != "done":
            types.append((await recv(ws))["type"])
        assert types[-2:] == ["run.completed", "done"]


async def test_reconnects_after_the_server_restarts(served: Served) -> None:
    rt = served.remote(served.alice)
    port = int(served.url.rsplit(":", 1)[1])
    try:
        first = await _collect(rt, ChatRequest(message="one", approval="interactive"))
        assert first[-1].type == "run.completed"
        await stop_server(served.server, served.task)
        settings = served.server.config.app.state.ctx.settings
        _url, server, task = await start_server(served.runtime, served.keys, settings, port=port)
        served.server, served.task = server, task
        second = await _collect(
            rt, ChatRequest(message="two", approval="interactive", session_id=first[0].session_id)
        )
        assert second[-1].type == "run.completed"
        assert any("reconnect" in n for n in served.notices), served.notices
    finally:
        await rt.aclose()


async def test_a_turn_lost_with_the_server_ends_with_connection_failed(served: Served) -> None:
    hold = asyncio.Event()
    served.runtime.script(Script(text="cut off here", hold=hold))
    rt = served.remote(served.alice, reconnect_attempts=1)
    try:
        events: list[Event] = []
        turn = await rt.chat(ChatRequest(message="go", approval="interactive"))
        async for ev in turn.events():
            events.append(ev)
            if ev.type == "text.delta":
                # The server goes away (shutdown cancels the held turn after its grace).
                served.server.config.app.state.ctx.settings.shutdown_grace = 0.1
                served.server.should_exit = True
        last = events[-1]
        assert last.type == "run.failed"
        assert last.error["code"] in ("connection_failed", "cancelled")
    finally:
        await rt.aclose()


@pytest.mark.parametrize(("who", "expected"), [("alice", "allow"), ("admin", "always")])
async def test_only_an_admin_can_always_allow_over_the_socket(
    served: Served, who: str, expected: str
) -> None:
    # "always" is saved server-wide: a user key's "always" counts for this call only.
    served.runtime.script(Script(text="done", tool=True))
    rt = served.remote(getattr(served, who))
    try:

        async def on(ev: Event, turn: Turn) -> None:
            if isinstance(ev, ToolApproval) and ev.decision == "pending":
                await turn.approve(ev.call_id, "always")

        events = await _collect(rt, ChatRequest(message="2+2?", approval="interactive"), on)
        assert [e.decision for e in events if e.type == "tool.approval"] == [
            "pending",
            "allowed",
        ]
        assert [d for _call, d in served.runtime.decisions] == [expected]
    finally:
        await rt.aclose()


async def test_odd_frames_and_early_hangups_never_crash_the_endpoint(served: Served) -> None:
    import logging

    errors: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                errors.append(record)

    handler = Catch()
    logging.getLogger("uvicorn.error").addHandler(handler)
    ws_url = "ws" + served.url[4:] + "/v1/ws"
    try:
        async with connect(ws_url, additional_headers=served.headers(served.alice)) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            # JSON in a binary frame is read as text; other bytes get an error frame.
            await ws.send(b'{"type": "ping"}')
            assert json.loads(await ws.recv()) == {"type": "pong"}
            await ws.send(b"\xff\xfe not text")
            frame = json.loads(await ws.recv())
            assert frame["type"] == "error" and frame["error"]["code"] == "usage_error"
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv()) == {"type": "pong"}
        # A client that hangs up before authenticating.
        async with connect(ws_url) as ws:
            await ws.close()
        # The server notices the hang-up when it next reads: one more round trip.
        async with connect(ws_url, additional_headers=served.headers(served.alice)) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
    finally:
        logging.getLogger("uvicorn.error").removeHandler(handler)
    assert errors == []
