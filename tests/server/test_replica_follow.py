"""A stream resumed on another replica keeps the turn alive on the replica running it."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.server.fakeruntime import Script
from tests.server.replicas import Pair

SSE = {"accept": "text/event-stream"}


@pytest.mark.parametrize("pair", [{"resume_grace": 1.0}], indirect=True)
async def test_a_stream_resumed_on_the_other_replica_is_not_abandoned(pair: Pair) -> None:
    hold = asyncio.Event()
    pair.a.runtime.script(Script(text="slow but followed", hold=hold))
    alice = pair.headers(pair.alice)
    async with (
        httpx.AsyncClient(base_url=pair.a.url) as ca,
        httpx.AsyncClient(base_url=pair.b.url, timeout=30) as cb,
    ):
        async with ca.stream(
            "POST", "/v1/chat", json={"message": "go"}, headers={**alice, **SSE}
        ) as r:
            run_id = r.headers["x-muxi-run-id"]
            last = 0
            async for line in r.aiter_lines():
                if line.startswith("id: "):
                    last = int(line[4:])
                if '"text.delta"' in line:
                    break
        # Dropped on A; the client comes back through the balancer to B and follows there
        # for three resume graces before the turn goes on.
        async with cb.stream(
            "GET", f"/v1/runs/{run_id}/events", headers={**alice, "last-event-id": str(last)}
        ) as follow:
            assert follow.status_code == 200
            loop = asyncio.get_running_loop()
            loop.call_later(3.0, hold.set)
            events = [
                json.loads(line[6:]) async for line in follow.aiter_lines() if line[:6] == "data: "
            ]
    assert events[-1]["type"] == "run.completed", events[-1]
    assert events[-1]["text"] == "slow but followed"


@pytest.mark.parametrize("pair", [{"resume_grace": 1.0}], indirect=True)
async def test_a_follower_that_leaves_the_other_replica_lets_the_grace_run_out(
    pair: Pair,
) -> None:
    pair.a.runtime.script(Script(text="nobody reads me", hold=asyncio.Event()))
    alice = pair.headers(pair.alice)
    async with (
        httpx.AsyncClient(base_url=pair.a.url) as ca,
        httpx.AsyncClient(base_url=pair.b.url, timeout=30) as cb,
    ):
        async with ca.stream(
            "POST", "/v1/chat", json={"message": "go"}, headers={**alice, **SSE}
        ) as r:
            run_id = r.headers["x-muxi-run-id"]
            async for line in r.aiter_lines():
                if '"text.delta"' in line:
                    break
        async with cb.stream("GET", f"/v1/runs/{run_id}/events", headers=alice) as follow:
            async for line in follow.aiter_lines():
                if '"text.delta"' in line:
                    break
        await asyncio.sleep(1.5)  # a follower gone from B: it tells A nothing any more
        # Cancelled for want of a reader within the grace (and the pings that were on
        # their way), not kept alive for ever.
        await asyncio.wait_for(pair.a.runtime.turn_closed.wait(), 4.0)
