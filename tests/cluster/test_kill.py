"""A replica killed with SIGKILL under load, behind HAProxy: the turns running
on the other replicas complete, the killed replica's streams break (they do not
pretend to complete), HAProxy takes it out of rotation, new turns succeed, and
nothing committed before the kill is lost (the replicas share one data folder)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator

import httpx
import pytest

from muxi_cli.server.ready import REPLICA_HEADER
from tests.cluster.rig import Cluster
from tests.fakellm import FakeLLM, Slow

pytestmark = pytest.mark.slow

REPLY = "alpha beta gamma delta epsilon zeta eta theta"


@pytest.fixture
def trio(fake_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    rig = Cluster.serving(fake_llm, tmp_path_factory.mktemp("trio"), 3)
    rig.alice = rig.create_key("user", "alice")  # type: ignore[attr-defined]
    with rig:
        yield rig


async def _turn(
    client: httpx.AsyncClient, message: str, started: asyncio.Queue[str]
) -> tuple[str, str, str | None]:
    """(replica, session id, last event type, or None when the stream broke)."""
    replica, session, last = "", "", None
    try:
        async with client.stream(
            "POST", "/v1/chat", json={"message": message, "approval": "deny"}
        ) as resp:
            assert resp.status_code == 200
            replica = resp.headers[REPLICA_HEADER]
            told = False
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                session = session or event.get("session_id", "")
                last = event["type"]
                if last == "text.delta" and not told:
                    told = True
                    await started.put(replica)
    except httpx.HTTPError:
        last = None
    return replica, session, last


async def test_a_killed_replica_loses_only_its_own_turns(trio: Cluster, fake_llm: FakeLLM) -> None:
    headers = {"authorization": f"Bearer {trio.alice}", "accept": "text/event-stream"}  # type: ignore[attr-defined]
    ids = {}
    async with httpx.AsyncClient(timeout=5) as direct:
        for replica in trio.replicas:
            ids[(await direct.get(replica.url + "/ready")).json()["replica"]] = replica
    fake_llm.set_default(Slow(REPLY, delay=0.25))
    async with httpx.AsyncClient(base_url=trio.url, headers=headers, timeout=60) as client:
        # Committed before the kill.
        started: asyncio.Queue[str] = asyncio.Queue()
        before = [await _turn(client, f"before {i}", started) for i in range(3)]
        assert all(last == "run.completed" for _, _, last in before)
        # Nine turns at once (three per replica), killed mid-stream on one.
        tasks = [asyncio.create_task(_turn(client, f"during {i}", started)) for i in range(9)]
        streaming = [await asyncio.wait_for(started.get(), 30) for _ in range(9)]
        victim = streaming[0]
        proc = ids[victim].proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        during = await asyncio.gather(*tasks)
        on_victim = [t for t in during if t[0] == victim]
        elsewhere = [t for t in during if t[0] != victim]
        assert len(on_victim) == 3 and len(elsewhere) == 6
        assert all(last == "run.completed" for _, _, last in elsewhere)
        assert all(last != "run.completed" for _, _, last in on_victim)
        # Out of rotation; new turns all complete on the others.
        name = f"r{trio.replicas.index(ids[victim])}"
        await asyncio.to_thread(trio.wait_states, lambda s: s[name] == "DOWN", 15)
        fake_llm.set_default(Slow("after", delay=0.0))
        after = await asyncio.gather(*(_turn(client, f"after {i}", started) for i in range(6)))
        assert all(last == "run.completed" and r != victim for r, _, last in after)
        # Nothing committed is lost: every finished turn's reply is there, from any replica.
        for _, session, _ in [*before, *elsewhere]:
            resp = await client.get(f"/v1/sessions/{session}/messages")
            assert resp.status_code == 200
            assert [m["content"] for m in resp.json() if m["role"] == "assistant"] == [REPLY]
        # The killed replica's turns kept their question (saved when the turn started).
        for _, session, _ in on_victim:
            resp = await client.get(f"/v1/sessions/{session}/messages")
            assert resp.status_code == 200
            assert [m["role"] for m in resp.json()][:1] == ["user"]
    assert proc.wait(10) == -signal.SIGKILL
