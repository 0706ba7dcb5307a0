"""A keyed turn start runs once, always (server/turn_keys.py): a slow start is
waited for, not taken over; only a gone holder's claim is; a start cancelled while
a replica files its turn keeps its key; a keyed JSON turn outlives its client's
disconnect for the resume grace, so the retry gets its answer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from muxi_cli.server import turn_keys
from muxi_cli.stores.turn_keys import TurnKeys
from tests.server.conftest import Served
from tests.server.fakeruntime import Script
from tests.server.replicas import Pair
from tests.server.test_turn_keys import SSE, _chat, _events, fingerprint_of


async def _until(check: Any, timeout: float = 10.0) -> None:
    """Wait until ``check()`` holds (polled: the server's state, not a sleep)."""
    async with asyncio.timeout(timeout):
        while True:  # until it holds (the timeout ends it otherwise)
            if check():
                return
            await asyncio.sleep(0.01)


async def test_a_start_slower_than_any_timer_is_waited_for_not_started_twice(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeat of a start still in ``runtime.chat`` (a long warm-up) while its
    holder (this server) is alive gets a 409 to retry, never a second turn; the
    old 60 s timer (here 0) let it take the claim over and start the turn again."""
    from muxi_cli.stores import turn_keys as store

    monkeypatch.setattr(store, "START_STALE", 0.0, raising=False)
    monkeypatch.setattr(turn_keys, "WAIT_START", 0.5)
    gate, entered = asyncio.Event(), [0]
    real_chat = served.runtime.chat

    async def slow_chat(req: Any) -> Any:
        entered[0] += 1
        await gate.wait()
        return await real_chat(req)

    monkeypatch.setattr(served.runtime, "chat", slow_chat)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        first = asyncio.create_task(_chat(c, served.alice, "k-slow"))
        await _until(lambda: entered[0] == 1)
        repeat = asyncio.create_task(_chat(c, served.alice, "k-slow"))
        await asyncio.wait({repeat}, timeout=10)
        starts = entered[0]
        gate.set()
        answers = await asyncio.gather(first, repeat)
        later = await _chat(c, served.alice, "k-slow")
    assert starts == 1, "the repeat started the turn a second time"
    done, waited = answers
    assert waited.status_code == 409, waited.text
    assert waited.json()["error"]["code"] == "turn_starting"
    assert "still starting" in waited.json()["error"]["message"]
    assert done.status_code == later.status_code == 200
    assert later.headers["x-muxi-run-id"] == done.headers["x-muxi-run-id"]
    assert len(served.runtime.requests) == 1


async def test_a_claim_left_by_a_server_that_restarted_is_taken_over_at_once(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim without a run held by another boot of this server (it died while
    starting) is taken over by the retry at once; it waited out a 60 s timer."""
    monkeypatch.setattr(turn_keys, "WAIT_START", 1.0)
    registry = served.server.config.app.state.ctx.registry
    dead = TurnKeys(registry.log.path, claimant="rep_before_restart")
    try:
        await dead.claim("alice", "k-dead", fingerprint_of(served, {"message": "hi"}))
    finally:
        dead.close()
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        retry = await _chat(c, served.alice, "k-dead")
    assert retry.status_code == 200, retry.text
    assert _events(retry.text)[-1]["type"] == "run.completed"
    assert len(served.runtime.requests) == 1


async def test_replicas_take_over_a_key_only_from_a_replica_that_is_gone(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the holder is a replica: while it beats (b), a repeat on a
    waits and gets a 409; once it is not beating (gone), a takes the key over."""
    monkeypatch.setattr(turn_keys, "WAIT_START", 1.0)
    from muxi_cli.protocol.records import ChatRequest
    from muxi_cli.stores.turn_keys import fingerprint

    req = ChatRequest.from_dict({"message": "hi"})
    req.user_id, req.caller_role = "alice", "user"
    print_ = fingerprint(req.to_dict())
    for holder, key in ((pair.b.ctx.registry.replica, "k-b"), ("rep_gone", "k-gone")):
        held = TurnKeys(pair.a.ctx.registry.log.path, claimant=holder)  # the replicas' keys
        try:
            await held.claim("alice", key, print_)
        finally:
            held.close()
    head = {**pair.headers(pair.alice), **SSE}
    async with httpx.AsyncClient(timeout=30) as c:
        alive = await c.post(
            f"{pair.a.url}/v1/chat",
            json={"message": "hi"},
            headers={**head, "idempotency-key": "k-b"},
        )
        gone = await c.post(
            f"{pair.a.url}/v1/chat",
            json={"message": "hi"},
            headers={**head, "idempotency-key": "k-gone"},
        )
    assert alive.status_code == 409, alive.text
    assert gone.status_code == 200, gone.text
    assert _events(gone.text)[-1]["type"] == "run.completed"
    assert len(pair.a.runtime.requests) == 1 and pair.b.runtime.requests == []


async def test_a_start_cancelled_while_its_replica_files_the_turn_keeps_it(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WebSocket closing while its replica files the turn it started (the turn
    runs) cancelled the start there: the turn was closed with no pump and its key
    given back, so the client's retry started a second turn. Now the turn is read
    and gets the resume grace, and the key names it: the retry attaches."""
    from muxi_cli.server.cluster import Cluster

    registry = pair.a.ctx.registry
    filing, gate = asyncio.Event(), asyncio.Event()
    real_file = Cluster._file

    async def slow_file(self: Cluster, running: Any) -> None:
        if self.registry is registry and not gate.is_set():
            filing.set()
            await gate.wait()
        await real_file(self, running)

    monkeypatch.setattr(Cluster, "_file", slow_file)
    cancelled = asyncio.Event()
    real_start = registry.start

    async def watched(*args: Any, **kw: Any) -> Any:
        try:
            return await real_start(*args, **kw)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(registry, "start", watched)
    url = pair.a.url.replace("http", "ws") + "/v1/ws"
    frame = {"type": "chat", "request": {"message": "hi"}, "idempotency_key": "k-filed"}
    async with websockets.connect(url, additional_headers=pair.headers(pair.alice)) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(json.dumps(frame))
        await asyncio.wait_for(filing.wait(), 10)
    await asyncio.wait_for(cancelled.wait(), 10)
    gate.set()
    head = {**pair.headers(pair.alice), **SSE, "idempotency-key": "k-filed"}
    async with httpx.AsyncClient(timeout=30) as c:
        retry = await c.post(f"{pair.a.url}/v1/chat", json={"message": "hi"}, headers=head)
    assert retry.status_code == 200, retry.text
    assert len(pair.a.runtime.requests) == 1, "the retry started a second turn"
    assert pair.b.runtime.requests == []
    assert _events(retry.text)[-1]["type"] == "run.completed"


async def test_a_keyed_json_turn_outlives_its_clients_disconnect(served: Served) -> None:
    """A non-streaming keyed start whose client disconnects gets the resume grace
    (it was cancelled at once), so the client's retry gets the completed answer."""
    hold = asyncio.Event()
    script = Script(text="one two three", hold=hold)
    served.runtime.script(script)
    registry = served.server.config.app.state.ctx.registry
    head = {"authorization": f"Bearer {served.alice}", "idempotency-key": "k-json"}
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        first = asyncio.create_task(c.post("/v1/chat", json={"message": "hi"}, headers=head))
        await asyncio.wait_for(script.started.wait(), 10)
        [running] = registry._by_run.values()
        await _until(lambda: running.followers == 1)
        first.cancel()  # the client goes away mid-turn
        await _until(lambda: running.followers == 0)
    hold.set()
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        retry = await c.post("/v1/chat", json={"message": "hi"}, headers=head)
    assert retry.status_code == 200, retry.text
    answer = retry.json()
    assert answer["run_id"] == running.run_id
    assert answer["status"] == "completed", answer
    assert answer["reply"] == "one two three"
    assert len(served.runtime.requests) == 1


async def test_a_key_whose_run_the_database_refused_to_record_still_names_it(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn began but recording its run under the key failed (a database
    stall): the start answered an error with its turn running, and the key stayed
    claimed without a run, so a repeat waited and could take it over. Now the start
    goes on, the repeat finds the run, and the record is tried again until it lands."""
    monkeypatch.setattr(turn_keys, "WAIT_START", 1.0)
    real_started = TurnKeys.started
    failures = [1]

    async def flaky(self: TurnKeys, *args: Any) -> None:
        if failures[0]:
            failures[0] -= 1
            raise OSError("database stalled")
        await real_started(self, *args)

    monkeypatch.setattr(TurnKeys, "started", flaky)
    keys = turn_keys.key_store(served.server.config.app.state.ctx)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        first = await _chat(c, served.alice, "k-stall")
        again = await _chat(c, served.alice, "k-stall")
        assert first.status_code == again.status_code == 200, first.text
        assert again.headers["x-muxi-run-id"] == first.headers["x-muxi-run-id"]
        await _until(lambda: not keys.began)  # the record was tried again and landed
        held = await keys.holder("alice", "k-stall")
    assert held is not None and held.run_id == first.headers["x-muxi-run-id"]
    assert len(served.runtime.requests) == 1
