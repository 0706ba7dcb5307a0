"""Three ``muxi serve`` replicas behind HAProxy on shared SQLite: a client of the
balancer sees one server, whichever replica answers each request.

Sharing a data folder is enough for the sessions, keys and event log; a cancel
or an approval that the balancer gives to another replica than the one running
the turn needs the shared database (test_balancer_postgres.py runs the whole
Runtime contract there)."""

from __future__ import annotations

import httpx
import pytest

from muxi_cli.protocol import events as ev
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.server.ready import REPLICA_HEADER
from tests.cluster.rig import Cluster
from tests.fakellm import FakeLLM, Text
from tests.runtime.contract import chat

pytestmark = pytest.mark.slow


def _alice(cluster: Cluster) -> str:
    return str(cluster.alice)  # type: ignore[attr-defined]


def test_the_balancer_spreads_requests_over_every_ready_replica(cluster: Cluster) -> None:
    seen = set()
    with httpx.Client(base_url=cluster.url) as c:
        for _ in range(6):
            resp = c.get("/ready")
            assert resp.status_code == 200 and resp.json()["ready"] is True
            assert resp.json()["replica"] == resp.headers[REPLICA_HEADER]
            seen.add(resp.headers[REPLICA_HEADER])
    assert len(seen) == 3
    assert cluster.states() == {"r0": "UP", "r1": "UP", "r2": "UP"}


async def test_a_streamed_turn_then_its_session_from_every_replica(
    cluster: Cluster, module_llm: FakeLLM
) -> None:
    module_llm.reset()
    module_llm.script(Text("an answer through the balancer"))
    rt = RemoteRuntime(cluster.url, _alice(cluster), label="lb")
    try:
        events = await chat(rt, ChatRequest(message="hello balancer", approval="deny"))
    finally:
        await rt.aclose()
    assert events[-1].type == ev.RUN_COMPLETED
    assert "".join(e.text for e in events if e.type == ev.TEXT_DELTA) == (
        "an answer through the balancer"
    )
    sid = events[0].session_id
    by_replica: dict[str, list[str]] = {}
    headers = {"authorization": f"Bearer {_alice(cluster)}"}
    async with httpx.AsyncClient(base_url=cluster.url, headers=headers) as c:
        for _ in range(6):
            resp = await c.get("/v1/sessions")
            assert resp.status_code == 200
            ids = [s["id"] for s in resp.json()]
            by_replica.setdefault(resp.headers[REPLICA_HEADER], []).extend(ids)
            messages = await c.get(f"/v1/sessions/{sid}/messages")
            assert messages.status_code == 200
            assert [m["content"] for m in messages.json() if m["role"] == "assistant"] == [
                "an answer through the balancer"
            ]
    assert len(by_replica) == 3 and all(sid in ids for ids in by_replica.values())
