"""``GET /v1/runs/live``: a user key sees its own runs in flight and no user
ids, never another user's; an admin key sees every user's (or one's)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from muxi_cli.protocol.events import Event
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.protocol.turn import Turn
from tests.server.conftest import Served
from tests.server.fakeruntime import Script


async def _until(turn: Turn, seen: asyncio.Event, when: Any) -> list[Event]:
    out: list[Event] = []
    async for event in turn.events():
        out.append(event)
        if when(event):
            seen.set()
    return out


async def test_live_runs_are_scoped_to_the_keys_user(served: Served) -> None:
    hold = asyncio.Event()
    served.runtime.script(Script(text="four", tool=True), Script(text="slow words", hold=hold))
    alice, bob, admin = (served.remote(k) for k in (served.alice, served.bob, served.admin))
    asking, started = asyncio.Event(), asyncio.Event()
    a_turn = await alice.chat(ChatRequest(message="2+2?", approval="interactive"))
    a_task = asyncio.create_task(
        _until(a_turn, asking, lambda e: e.type == "tool.approval" and e.decision == "pending")
    )
    await asyncio.wait_for(asking.wait(), 10)
    b_turn = await bob.chat(ChatRequest(message="hi"))
    b_task = asyncio.create_task(_until(b_turn, started, lambda e: e.type == "text.delta"))
    await asyncio.wait_for(started.wait(), 10)
    try:
        async with httpx.AsyncClient(base_url=served.url) as c:

            async def get(key: str, **params: str) -> dict[str, Any]:
                r = await c.get("/v1/runs/live", params=params, headers=served.headers(key))
                assert r.status_code == 200, r.text
                data: dict[str, Any] = r.json()
                return data

            mine = await get(served.alice, user="bob")  # asking for bob's changes nothing
            assert [r["run_id"] for r in mine["runs"]] == [a_turn.run_id]
            assert mine["user_id"] == "alice" and mine["runs"][0]["user_id"] is None
            assert "bob" not in str(mine)
            tool = mine["runs"][0]["tool"]
            assert (tool["tool"], tool["state"]) == ("calculator", "approval")
            theirs = await get(served.bob)
            assert [r["run_id"] for r in theirs["runs"]] == [b_turn.run_id]
            every = await get(served.admin)
            assert every["user_id"] is None
            assert {r["run_id"]: r["user_id"] for r in every["runs"]} == {
                a_turn.run_id: "alice",
                b_turn.run_id: "bob",
            }
            one = await get(served.admin, user="bob")
            assert [r["user_id"] for r in one["runs"]] == ["bob"]
            r = await c.get("/v1/runs/live")
            assert r.status_code == 401
        report = await alice.live()
        assert [r.run_id for r in report.runs] == [a_turn.run_id] and not report.all_users
        (call_id,) = [c for _, c in a_turn.pending()]
        await a_turn.approve(call_id, "allow")
        hold.set()
        await asyncio.wait_for(asyncio.gather(a_task, b_task), 10)
        assert (await admin.live()).runs == []
    finally:
        hold.set()
        for rt in (alice, bob, admin):
            await rt.aclose()
