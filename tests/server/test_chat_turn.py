"""The server drives a runtime's Turn: its ids go out before the first event,
and another connection can steer it by run id (cancel, approve)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.wire import RUN_HEADER, SESSION_HEADER
from tests.server.conftest import Served
from tests.server.fakeruntime import Script

SSE = {"accept": "text/event-stream"}


async def test_sse_headers_carry_the_ids_and_another_connection_cancels(served: Served) -> None:
    served.runtime.script(Script(text="held here forever", hold=asyncio.Event()))
    registry = served.server.config.app.state.ctx.registry
    async with (
        httpx.AsyncClient(base_url=served.url) as c,
        c.stream(
            "POST",
            "/v1/chat",
            json={"message": "go"},
            headers={**served.headers(served.alice), **SSE},
        ) as resp,
    ):
        run_id, session_id = resp.headers[RUN_HEADER], resp.headers[SESSION_HEADER]
        assert run_id.startswith("run_") and session_id
        # Not the owner: not found; the owner, from a second connection: cancelled.
        r = await c.post(f"/v1/runs/{run_id}/cancel", headers=served.headers(served.bob))
        assert r.status_code == 404
        r = await c.post(f"/v1/runs/{run_id}/cancel", headers=served.headers(served.alice))
        assert r.status_code == 202 and r.json()["run_id"] == run_id
        events = [json.loads(line[6:]) async for line in resp.aiter_lines() if line[:6] == "data: "]
    assert {e["run_id"] for e in events} == {run_id}
    assert {e["session_id"] for e in events} == {session_id}
    assert events[-1]["type"] == "run.failed" and events[-1]["error"]["code"] == "cancelled"
    assert served.runtime.messages_[session_id][-1].status == "cancelled"
    assert registry.active == 0


async def test_approval_from_another_connection_reaches_the_turn(served: Served) -> None:
    served.runtime.script(Script(text="four", tool=True))
    async with httpx.AsyncClient(base_url=served.url) as c:
        body = {"message": "2+2?", "approval": "interactive"}
        headers = {**served.headers(served.alice), **SSE}
        async with c.stream("POST", "/v1/chat", json=body, headers=headers) as resp:
            events = []
            async for line in resp.aiter_lines():
                if line[:6] != "data: ":
                    continue
                events.append(json.loads(line[6:]))
                if events[-1]["type"] == "tool.approval" and events[-1]["decision"] == "pending":
                    call = events[-1]["call_id"]
                    r = await c.post(
                        f"/v1/approvals/{call}",
                        json={"decision": "allow"},
                        headers=served.headers(served.bob),
                    )
                    assert r.status_code == 404  # bob does not own alice's call
                    r = await c.post(
                        f"/v1/approvals/{call}",
                        json={"decision": "allow"},
                        headers=served.headers(served.alice),
                    )
                    assert r.status_code == 200 and r.json()["run_id"] == resp.headers[RUN_HEADER]
    assert [e["decision"] for e in events if e["type"] == "tool.approval"] == [
        "pending",
        "allowed",
    ]
    assert events[-1]["type"] == "run.completed"


async def test_a_quiet_stream_gets_keep_alive_comments(served: Served) -> None:
    hold = asyncio.Event()
    served.runtime.script(Script(text="slow then done", hold=hold))
    served.server.config.app.state.ctx.settings.keepalive = 0.1
    lines: list[str] = []
    async with httpx.AsyncClient(base_url=served.url) as c:
        headers = {**served.headers(served.alice), **SSE}
        async with c.stream("POST", "/v1/chat", json={"message": "go"}, headers=headers) as resp:
            async for line in resp.aiter_lines():
                lines.append(line)
                if line == ": keep-alive" and lines.count(line) == 2:
                    hold.set()  # two ticks while the turn held: let it finish
    events = [json.loads(line[6:]) for line in lines if line[:6] == "data: "]
    assert events[-1]["type"] == "run.completed" and events[-1]["text"] == "slow then done"
    assert lines.count(": keep-alive") >= 2


async def test_remote_turn_takes_its_ids_from_the_first_event_without_headers(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    import muxi_cli.server.chat as server_chat

    # A server from before the id headers: they go out under other names.
    monkeypatch.setattr(server_chat, "RUN_HEADER", "x-old-run")
    monkeypatch.setattr(server_chat, "SESSION_HEADER", "x-old-session")
    rt = served.remote(served.alice)
    try:
        async with await rt.chat(ChatRequest(message="hello")) as turn:
            assert turn.run_id.startswith("run_") and turn.session_id
            events = [e async for e in turn.events()]
        assert {e.run_id for e in events} == {turn.run_id}
        assert events[0].type == "run.started" and events[-1].type == "run.completed"
    finally:
        await rt.aclose()
