"""The WebSocket's ``resume`` frame, and RemoteRuntime resuming a turn on a new socket."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from muxi_cli.protocol.events import Event, ToolApproval
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.runtime.remote_ws import WebSocketTurn
from tests.server.conftest import Served
from tests.server.cutproxy import cut_proxy
from tests.server.fakeruntime import Script


async def test_a_lost_socket_is_reopened_and_the_turn_resumed_with_its_approval(
    served: Served,
) -> None:
    served.runtime.script(Script(text="four it is", tool=True))
    port = int(served.url.rsplit(":", 1)[1])
    async with cut_proxy(port) as proxy:
        notices: list[str] = []
        rt = RemoteRuntime(proxy.url, served.alice, label="lb", on_notice=notices.append)
        try:
            turn = await rt.chat(ChatRequest(message="2+2?", approval="interactive"))
            assert isinstance(turn, WebSocketTurn)
            events: list[Event] = []
            approved: list[asyncio.Task[None]] = []

            async def approve_once_resumed(call_id: str) -> None:
                for _ in range(500):  # the reader notices the loss and reconnects
                    if turn.resumed:
                        break
                    await asyncio.sleep(0.01)
                await turn.approve(call_id, "allow")  # on the new socket

            async for event in turn.events():
                events.append(event)
                if isinstance(event, ToolApproval) and event.decision == "pending":
                    proxy.cut()  # the socket dies while the call waits for its approval
                    approved.append(asyncio.create_task(approve_once_resumed(event.call_id)))
            await approved[0]
            assert events[-1].type == "run.completed"
            assert events[-1].text == "four it is"  # type: ignore[attr-defined]
            decisions = [e.decision for e in events if isinstance(e, ToolApproval)]
            assert decisions == ["pending", "allowed"]
            assert [e.type for e in events].count("run.started") == 1
            assert turn.resumed == 1 and any("resuming" in n for n in notices), notices
            assert "seq" not in events[-1].to_dict()  # the frame's number is not the event's
        finally:
            await rt.aclose()


async def test_resume_frames_follow_a_finished_run_and_refuse_others(served: Served) -> None:
    alice = served.remote(served.alice)
    try:
        turn = await alice.chat(ChatRequest(message="hi", approval="interactive"))
        events = [e async for e in turn.events()]
    finally:
        await alice.aclose()
    url = "ws" + served.url[4:] + "/v1/ws"
    async with connect(url, additional_headers=served.headers(served.alice)) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(json.dumps({"type": "resume", "run_id": turn.run_id, "after": 2}))
        frames = []
        while (frame := json.loads(await ws.recv()))["type"] != "done":
            frames.append(frame)
        assert [f["seq"] for f in frames] == list(range(3, len(events) + 1))
        assert [f["type"] for f in frames] == [e.type for e in events[2:]]
        assert frame["run_id"] == turn.run_id
        await ws.send(json.dumps({"type": "resume", "run_id": turn.run_id, "after": -1}))
        assert json.loads(await ws.recv())["error"]["code"] == "usage_error"
        assert json.loads(await ws.recv())["type"] == "done"
    async with connect(url, additional_headers=served.headers(served.bob)) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(json.dumps({"type": "resume", "run_id": turn.run_id}))
        refused = json.loads(await ws.recv())
        assert refused["ref"] == "resume" and refused["error"]["code"] == "not_found"
        assert json.loads(await ws.recv())["type"] == "done"


async def test_a_revoked_keys_turn_gets_no_resume_grace(served: Served) -> None:
    rec, key = served.keys.create("user", "carol")
    served.runtime.script(Script(text="held until revoked", hold=asyncio.Event()))
    url = "ws" + served.url[4:] + "/v1/ws"
    async with connect(url, additional_headers=served.headers(key)) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(json.dumps({"type": "chat", "request": {"message": "go"}}))
        while json.loads(await ws.recv())["type"] != "text.delta":
            pass
        served.keys.revoke(rec.id)
        # The periodic key check closes the socket and stops the turn at once.
        await asyncio.wait_for(served.runtime.turn_closed.wait(), 10)
    (msgs,) = served.runtime.messages_.values()
    assert msgs[-1].status == "cancelled"


async def test_an_interactive_turn_refused_while_draining_is_started_again(
    served: Served,
) -> None:
    registry = served.server.config.app.state.ctx.registry
    registry.draining = True

    async def ready_again() -> None:
        await asyncio.sleep(0.3)
        registry.draining = False

    back = asyncio.create_task(ready_again())
    rt = served.remote(served.alice)
    try:
        turn = await rt.chat(ChatRequest(message="hello", approval="interactive"))
        events = [e async for e in turn.events()]
        assert events[-1].type == "run.completed"
        await back
    finally:
        registry.draining = False
        await rt.aclose()
