"""Idempotency keys of turn starts (server/turn_keys.py): a start sent twice with
the same key runs one turn; the repeat is answered that turn's events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from muxi_cli.server import turn_keys
from muxi_cli.stores.turn_keys import fingerprint
from tests.server.conftest import Served
from tests.server.fakeruntime import Script
from tests.server.replicas import Pair

SSE = {"accept": "text/event-stream"}


def _events(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]


def _ids(body: str) -> list[int]:
    return [int(line[3:]) for line in body.splitlines() if line.startswith("id:")]


def fingerprint_of(served: Served, body: dict[str, Any]) -> str:
    """What the server fingerprints for alice's request ``body`` (as ``prepare`` builds it)."""
    from muxi_cli.protocol.records import ChatRequest

    req = ChatRequest.from_dict(body)
    req.user_id, req.caller_role = "alice", "user"
    return fingerprint(req.to_dict())


async def _chat(c: httpx.AsyncClient, key: str, idem: str | None, **body: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", **SSE}
    if idem is not None:
        headers["idempotency-key"] = idem
    return await c.post("/v1/chat", json={"message": "hi", **body}, headers=headers)


async def test_the_same_key_twice_over_http_runs_one_turn(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        first = await _chat(c, served.alice, "k-1")
        again = await _chat(c, served.alice, "k-1")
        plain = await c.post(
            "/v1/chat",
            json={"message": "hi"},
            headers={"authorization": f"Bearer {served.alice}", "idempotency-key": "k-1"},
        )
    assert first.status_code == again.status_code == plain.status_code == 200, again.text
    assert len(served.runtime.requests) == 1  # one turn ran
    run_id = first.headers["x-muxi-run-id"]
    assert again.headers["x-muxi-run-id"] == run_id
    assert again.headers["x-muxi-session-id"] == first.headers["x-muxi-session-id"]
    # The repeat is the turn's whole stream, from its first event, numbered alike.
    assert _events(again.text) == _events(first.text)
    assert _ids(again.text) == _ids(first.text) == list(range(1, len(_ids(first.text)) + 1))
    assert _events(first.text)[-1]["type"] == "run.completed"
    assert plain.json()["run_id"] == run_id and plain.json()["status"] == "completed"


async def test_another_users_same_key_is_its_own_turn(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        alice = await _chat(c, served.alice, "shared-key")
        bob = await _chat(c, served.bob, "shared-key")
    assert alice.status_code == bob.status_code == 200, bob.text
    assert len(served.runtime.requests) == 2
    assert [r.user_id for r in served.runtime.requests] == ["alice", "bob"]
    assert alice.headers["x-muxi-run-id"] != bob.headers["x-muxi-run-id"]


async def test_a_key_sent_with_another_request_is_refused(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        first = await _chat(c, served.alice, "k-2")
        other = await _chat(c, served.alice, "k-2", message="something else")
        bad = await _chat(c, served.alice, "with space")
    assert first.status_code == 200
    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert bad.status_code == 400, bad.text
    assert len(served.runtime.requests) == 1


async def test_a_start_without_a_key_runs_each_time(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        await _chat(c, served.alice, None)
        await _chat(c, served.alice, None)
    assert len(served.runtime.requests) == 2


async def test_a_repeat_while_the_turn_runs_follows_it_from_its_first_event(
    served: Served,
) -> None:
    hold = asyncio.Event()
    script = Script(text="one two three", hold=hold)
    served.runtime.script(script)
    head = {"authorization": f"Bearer {served.alice}", "idempotency-key": "k-3", **SSE}
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        async with c.stream("POST", "/v1/chat", json={"message": "hi"}, headers=head) as first:
            await script.started.wait()
            repeat = asyncio.create_task(_chat(c, served.alice, "k-3"))
            # The repeat is attached (it follows the tape) before the turn goes on.
            while served.runtime.requests and not repeat.done():
                running = next(iter(served.server.config.app.state.ctx.registry._by_run.values()))
                if running.followers >= 2:
                    break
                await asyncio.sleep(0.01)
            hold.set()
            body = "".join([chunk async for chunk in first.aiter_text()])
        again = await repeat
    assert len(served.runtime.requests) == 1
    assert again.headers["x-muxi-run-id"] == first.headers["x-muxi-run-id"]
    assert _events(again.text) == _events(body)
    assert _events(body)[-1]["type"] == "run.completed"


async def test_a_repeated_chat_frame_follows_the_turn_its_key_started(served: Served) -> None:
    url = served.url.replace("http", "ws") + "/v1/ws"
    head = {"authorization": f"Bearer {served.alice}"}
    frame = {"type": "chat", "request": {"message": "hi"}, "idempotency_key": "k-ws"}

    async def one_turn() -> list[dict[str, Any]]:
        async with websockets.connect(url, additional_headers=head) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            await ws.send(json.dumps(frame))
            frames = []
            while (got := json.loads(await ws.recv()))["type"] != "done":
                frames.append(got)
            return frames

    first = await one_turn()
    again = await one_turn()
    assert len(served.runtime.requests) == 1
    assert first[-1]["type"] == "run.completed"
    assert again == first  # the same events, the same seq numbers


async def test_a_key_whose_run_is_no_longer_kept_is_a_conflict(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event log keeps a run's events for an hour, the key for a day: a repeat
    after that is told so (409), and no second turn starts."""
    monkeypatch.setattr(turn_keys, "WAIT_LOGGED", 0.2)
    ctx = served.server.config.app.state.ctx
    fp = fingerprint_of(served, {"message": "hi"})
    claim = await turn_keys.key_store(ctx).claim("alice", "k-gone", fp)
    await turn_keys.key_store(ctx).started("alice", "k-gone", claim.token, "run_pruned")
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        late = await _chat(c, served.alice, "k-gone")
    assert late.status_code == 409, late.text
    assert "no longer kept" in late.json()["error"]["message"]
    assert served.runtime.requests == []


async def test_a_key_repeated_on_another_replica_attaches_there(pair: Pair) -> None:
    """Replicas share the keys through PostgreSQL: b answers a's turn from the log."""
    async with httpx.AsyncClient(timeout=30) as c:
        head = {**pair.headers(pair.alice), **SSE, "idempotency-key": "k-rep"}
        first = await c.post(f"{pair.a.url}/v1/chat", json={"message": "hi"}, headers=head)
        again = await c.post(f"{pair.b.url}/v1/chat", json={"message": "hi"}, headers=head)
    assert first.status_code == again.status_code == 200, again.text
    assert len(pair.a.runtime.requests) == 1 and pair.b.runtime.requests == []
    assert again.headers["x-muxi-run-id"] == first.headers["x-muxi-run-id"]
    assert _events(again.text) == _events(first.text)


async def test_the_python_clients_send_a_fresh_key_per_turn(served: Served) -> None:
    import sqlite3

    from muxi_cli.client import AsyncClient

    async with AsyncClient(served.url, served.alice) as client:
        runs = [
            (await (await client.chat("one"))).run_id,
            (await (await client.chat("two"))).run_id,
            (await (await client.chat("three", transport="ws"))).run_id,
        ]
    # The CLI's runtime too: SSE, and the WebSocket for interactive approval.
    from muxi_cli.protocol.records import ChatRequest

    rt = served.remote(served.alice)
    try:
        for approval in ("deny", "interactive"):
            turn = await rt.chat(ChatRequest(message=approval, approval=approval))
            async for _event in turn.events():
                pass
            runs.append(turn.run_id)
    finally:
        await rt.aclose()
    ctx = served.server.config.app.state.ctx
    with sqlite3.connect(ctx.registry.log.path) as db:
        rows = db.execute("SELECT key, run_id FROM turn_keys WHERE user_id = 'alice'").fetchall()
    assert sorted(run for _key, run in rows) == sorted(runs)
    assert len({key for key, _run in rows}) == 5


async def test_a_start_cancelled_while_it_claims_gives_its_key_back() -> None:
    """A WebSocket that closes while its chat frame's key is being claimed cancels
    the start: the won claim is released, so the client's retry starts the turn
    instead of waiting for a start that never comes."""
    from muxi_cli.stores.turn_keys import Claim

    class SlowKeys:
        def __init__(self) -> None:
            self.gate = asyncio.Event()
            self.entered = asyncio.Event()
            self.released: list[str] = []

        async def claim(self, user_id: str, key: str, print_: str) -> Claim:
            self.entered.set()
            await self.gate.wait()
            return Claim(True, "tok", print_, None)

        async def release(self, user_id: str, key: str, token: str) -> None:
            self.released.append(token)

    keys = SlowKeys()
    start = asyncio.create_task(turn_keys._claim(keys, "alice", "k", "fp"))  # type: ignore[arg-type]
    await keys.entered.wait()
    start.cancel()
    keys.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await start
    for _ in range(200):
        if keys.released:
            break
        await asyncio.sleep(0.01)
    assert keys.released == ["tok"]


async def test_repeats_waiting_for_their_start_do_not_write_while_they_wait(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeats that arrive while the start holding their key is still being set
    up (its attachments checked, the runtime warming up) polled with claims,
    each a write transaction: every waiting repeat took the database's write
    lock twenty times a second. Now they read until the start records its run."""
    from muxi_cli.stores.turn_keys import TurnKeys

    claims = [0]
    real_claim = TurnKeys._claim
    loop = asyncio.get_running_loop()
    all_claimed = asyncio.Event()

    def counted(self: TurnKeys, *args: Any) -> Any:  # in a worker thread
        claims[0] += 1
        if claims[0] == 4:  # the first start and each repeat claimed once
            loop.call_soon_threadsafe(all_claimed.set)
        return real_claim(self, *args)

    monkeypatch.setattr(TurnKeys, "_claim", counted)
    gate = asyncio.Event()
    real_chat = served.runtime.chat

    async def slow_chat(req: Any) -> Any:
        await gate.wait()
        return await real_chat(req)

    monkeypatch.setattr(served.runtime, "chat", slow_chat)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        first = asyncio.create_task(_chat(c, served.alice, "k-slow"))
        repeats = [asyncio.create_task(_chat(c, served.alice, "k-slow")) for _ in range(3)]
        await asyncio.wait_for(all_claimed.wait(), 10)
        await asyncio.sleep(10 * turn_keys.POLL)  # the repeats wait: ten polls each
        gate.set()
        answers = await asyncio.gather(first, *repeats)
    assert {a.status_code for a in answers} == {200}
    assert len({a.headers["x-muxi-run-id"] for a in answers}) == 1
    assert len(served.runtime.requests) == 1
    assert claims[0] == 4, f"{claims[0]} claims (write transactions) for 4 starts"


async def test_a_turn_whose_websocket_closed_while_its_key_was_recorded_is_not_orphaned(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WebSocket closing after its turn began but before its key recorded the
    run cancelled the start between the two: nothing followed the turn and
    nothing gave it the resume grace, so it ran on to its end with no reader
    (an unfollowed turn is cancelled after the grace). Now it gets the grace."""
    from muxi_cli.stores.turn_keys import TurnKeys

    registry = served.server.config.app.state.ctx.registry
    registry.resume_grace = 0.3
    recording, gate = asyncio.Event(), asyncio.Event()
    real_started = TurnKeys.started

    async def slow_started(self: TurnKeys, *args: Any) -> None:
        recording.set()
        await gate.wait()
        await real_started(self, *args)

    monkeypatch.setattr(TurnKeys, "started", slow_started)
    served.runtime.script(Script(text="one two three", hold=asyncio.Event()))  # never ends alone
    url = served.url.replace("http", "ws") + "/v1/ws"
    frame = {"type": "chat", "request": {"message": "hi"}, "idempotency_key": "k-orphan"}
    async with websockets.connect(
        url, additional_headers={"authorization": f"Bearer {served.alice}"}
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(json.dumps(frame))
        await asyncio.wait_for(recording.wait(), 10)
    try:
        [running] = registry._by_run.values()

        async def to_its_end() -> list[Any]:
            return [event async for _seq, event, _data in running.tape.follow()]

        events = await asyncio.wait_for(to_its_end(), 5)  # old: it ran on, unfollowed
        assert events[-1].type == "run.failed"
        assert events[-1].error["code"] == "cancelled"
    finally:
        gate.set()
