"""Two replicas sharing a database: a cancel or an approval sent to the replica that
does not run the turn reaches the one that does, with the answer the owner would give."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from muxi_cli.server.runs import RunRegistry
from tests.server.fakeruntime import Script
from tests.server.replicas import Pair

SSE = {"accept": "text/event-stream"}
RUN_HEADER = "x-muxi-run-id"


async def test_a_cancel_sent_to_the_other_replica_stops_the_turn(pair: Pair) -> None:
    pair.a.runtime.script(Script(text="held here forever", hold=asyncio.Event()))
    async with (
        httpx.AsyncClient(base_url=pair.a.url) as ca,
        httpx.AsyncClient(base_url=pair.b.url) as cb,
        ca.stream(
            "POST", "/v1/chat", json={"message": "go"}, headers={**pair.headers(pair.alice), **SSE}
        ) as resp,
    ):
        run_id = resp.headers[RUN_HEADER]
        # Another user's turn is as unknown on B as on A: the same answer.
        on_a = await ca.post(f"/v1/runs/{run_id}/cancel", headers=pair.headers(pair.bob))
        on_b = await cb.post(f"/v1/runs/{run_id}/cancel", headers=pair.headers(pair.bob))
        assert on_a.status_code == on_b.status_code == 404 and on_a.json() == on_b.json()
        r = await cb.post(f"/v1/runs/{run_id}/cancel", headers=pair.headers(pair.alice))
        assert r.status_code == 202 and r.json() == {"ok": True, "run_id": run_id}
        events = [json.loads(line[6:]) async for line in resp.aiter_lines() if line[:6] == "data: "]
    assert events[-1]["type"] == "run.failed" and events[-1]["error"]["code"] == "cancelled"
    # The turn is gone from the shared tables once it closed.
    assert await _live_runs(pair.b.ctx.registry) == []
    # An admin may cancel any user's turn from any replica; a finished one is not found.
    r = await httpx.AsyncClient(base_url=pair.b.url).post(
        f"/v1/runs/{run_id}/cancel", headers=pair.headers(pair.admin)
    )
    assert r.status_code == 404


async def test_an_approval_sent_to_the_other_replica_reaches_the_turn(pair: Pair) -> None:
    pair.a.runtime.script(Script(text="four", tool=True))
    events: list[dict] = []  # type: ignore[type-arg]
    async with (
        httpx.AsyncClient(base_url=pair.a.url) as ca,
        httpx.AsyncClient(base_url=pair.b.url) as cb,
    ):
        body = {"message": "2+2?", "approval": "interactive"}
        headers = {**pair.headers(pair.alice), **SSE}
        async with ca.stream("POST", "/v1/chat", json=body, headers=headers) as resp:
            async for line in resp.aiter_lines():
                if line[:6] != "data: ":
                    continue
                events.append(json.loads(line[6:]))
                if events[-1]["type"] == "tool.approval" and events[-1]["decision"] == "pending":
                    call = events[-1]["call_id"]
                    decide = {"decision": "allow"}
                    on_a = await ca.post(
                        f"/v1/approvals/{call}", json=decide, headers=pair.headers(pair.bob)
                    )
                    on_b = await cb.post(
                        f"/v1/approvals/{call}", json=decide, headers=pair.headers(pair.bob)
                    )
                    assert on_a.status_code == on_b.status_code == 404
                    assert on_a.json() == on_b.json()  # bob does not own alice's call
                    r = await cb.post(
                        f"/v1/approvals/{call}", json=decide, headers=pair.headers(pair.alice)
                    )
                    assert r.status_code == 200, r.text
                    assert r.json() == {
                        "ok": True,
                        "call_id": call,
                        "run_id": resp.headers[RUN_HEADER],
                        "decision": "allow",
                    }
    assert [e["decision"] for e in events if e["type"] == "tool.approval"] == [
        "pending",
        "allowed",
    ]
    assert events[-1]["type"] == "run.completed"
    assert [d for _, d in pair.a.runtime.decisions] == ["allow"]
    assert pair.b.runtime.decisions == []


async def test_replicas_register_under_ids_of_their_own(pair: Pair) -> None:
    a, b = pair.a.ctx.registry.cluster, pair.b.ctx.registry.cluster
    assert a is not None and b is not None and a.replica_id != b.replica_id
    assert a.listening and b.listening
    rows = await a._exec("SELECT id FROM replicas ORDER BY id")
    assert sorted(r[0] for r in rows) == sorted([a.replica_id, b.replica_id])


async def _live_runs(registry: RunRegistry) -> list[tuple[object, ...]]:
    assert registry.cluster is not None
    for _ in range(100):  # the close runs after the stream's last event
        rows = await registry.cluster._exec("SELECT run_id FROM live_runs")
        if not rows:
            return rows
        await asyncio.sleep(0.05)
    return rows


async def test_a_websocket_turn_is_approved_over_http_on_the_other_replica(pair: Pair) -> None:
    from websockets.asyncio.client import connect

    pair.a.runtime.script(Script(text="four", tool=True))
    frames: list[dict] = []  # type: ignore[type-arg]
    async with (
        connect("ws" + pair.a.url[4:] + "/v1/ws") as ws,
        httpx.AsyncClient(base_url=pair.b.url) as cb,
    ):
        await ws.send(json.dumps({"type": "auth", "key": pair.alice}))
        assert json.loads(await ws.recv())["type"] == "ready"
        request = {"message": "2+2?", "approval": "interactive"}
        await ws.send(json.dumps({"type": "chat", "request": request}))
        while not frames or frames[-1].get("type") != "done":
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            if frames[-1].get("type") == "tool.approval" and frames[-1]["decision"] == "pending":
                call = frames[-1]["call_id"]
                r = await cb.post(
                    f"/v1/approvals/{call}",
                    json={"decision": "allow", "run_id": frames[-1]["run_id"]},
                    headers=pair.headers(pair.alice),
                )
                assert r.status_code == 200, r.text
    decisions = [f["decision"] for f in frames if f.get("type") == "tool.approval"]
    assert decisions == ["pending", "allowed"]
    assert [f["type"] for f in frames][-2:] == ["run.completed", "done"]


async def test_control_survives_dropped_connections(pair: Pair, pg_url: str) -> None:
    from muxi_cli.stores import pgconn

    admin = pgconn.connect(pg_url)
    try:  # the database restarted, say: every replica's connections are gone
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        admin.close()
    pair.a.runtime.script(Script(text="held here forever", hold=asyncio.Event()))
    async with (
        httpx.AsyncClient(base_url=pair.a.url) as ca,
        httpx.AsyncClient(base_url=pair.b.url, timeout=15) as cb,
        ca.stream(
            "POST", "/v1/chat", json={"message": "go"}, headers={**pair.headers(pair.alice), **SSE}
        ) as resp,
    ):
        run_id = resp.headers[RUN_HEADER]
        # A listens again within a second or so, and files its turn again at its
        # next heartbeat at the latest (the first insert may have met a dead connection);
        # a loaded machine stretches both, hence the generous deadline.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = await cb.post(f"/v1/runs/{run_id}/cancel", headers=pair.headers(pair.alice))
            if r.status_code == 202:
                break
            assert r.status_code in (404, 503), r.text
            await asyncio.sleep(0.2)
        assert r.status_code == 202
        events = [json.loads(line[6:]) async for line in resp.aiter_lines() if line[:6] == "data: "]
    assert events[-1]["type"] == "run.failed" and events[-1]["error"]["code"] == "cancelled"
    assert pair.a.ctx.registry.cluster.listening and pair.b.ctx.registry.cluster.listening


async def test_a_request_sent_twice_is_answered_once(pair: Pair) -> None:
    a, b = pair.a.ctx.registry.cluster, pair.b.ctx.registry.cluster
    assert a is not None and b is not None
    replies: list[str] = []
    quietly = a._quietly

    async def spy(sql: str, params: Any = ()) -> None:
        replies.append(params[1])
        await quietly(sql, params)

    a._quietly = spy  # type: ignore[method-assign]
    ask = {"op": "cancel", "run_id": "run_x", "user_id": "alice", "id": "m1", "from": b.replica_id}
    await a._handle(json.dumps(ask))
    await a._handle(json.dumps(ask))
    assert len(replies) == 1 and json.loads(replies[0])["error"]["code"] == "not_found"


async def test_ids_holding_a_nul_are_unknown_on_every_replica_not_a_500(pair: Pair) -> None:
    # Body fields are not checked for control characters as paths are: a NUL in the
    # run id reached the control tables' query (PostgreSQL refuses NUL in text).
    async with httpx.AsyncClient(base_url=pair.a.url) as c:
        r = await c.post(
            "/v1/approvals/call_1",
            json={"decision": "allow", "run_id": "run_\u0000x"},
            headers=pair.headers(pair.alice),
        )
        missing = await c.post(
            "/v1/approvals/call_1",
            json={"decision": "allow", "run_id": "run_x"},
            headers=pair.headers(pair.alice),
        )
    assert r.status_code == missing.status_code == 404, r.text


async def test_a_message_too_long_for_notify_is_stored_and_taken_once(pair: Pair) -> None:
    a, b = pair.a.ctx.registry.cluster, pair.b.ctx.registry.cluster
    assert a is not None and b is not None
    replies: list[str] = []
    quietly = a._quietly

    async def spy(sql: str, params: Any = ()) -> None:
        replies.append(params[1])
        await quietly(sql, params)

    a._quietly = spy  # type: ignore[method-assign]
    # PostgreSQL refuses a NOTIFY payload of 8000 bytes: only the stored row's key goes.
    ask = {"op": "cancel", "run_id": "run_" + "x" * 9000, "user_id": "alice", "id": "m2"}
    # From a replica nobody hears, so the reply's row stays for this test to take.
    payload = await b._packed({**ask, "from": "rep_gone"})
    assert len(payload) < 100 and await b._exec("SELECT count(*) FROM cluster_messages") == [(1,)]
    await a._handle(payload)
    await a._handle(payload)  # sent again: the row was taken, nothing is applied twice
    assert await a._exec("SELECT count(*) FROM cluster_messages") == [(1,)]  # the long reply
    (reply,) = replies
    assert json.loads(reply).keys() == {"stored"}
    answer = await b._unpacked(reply)
    assert answer is not None and answer["id"] == "m2" and answer["error"]["code"] == "not_found"
    assert await a._exec("SELECT count(*) FROM cluster_messages") == [(0,)]
