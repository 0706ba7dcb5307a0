"""A replica taken out of rotation: SIGTERM makes it drain, its ``/ready`` says
503, HAProxy stops sending it requests while its running turn finishes, and the
balancer's clients see no failed request."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import httpx
import pytest

from muxi_cli.server.ready import REPLICA_HEADER
from tests.cluster.rig import Cluster
from tests.fakellm import FakeLLM, Slow

pytestmark = pytest.mark.slow

T = TypeVar("T")


def _poll(get: Callable[[], T], done: Callable[[T], bool], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@pytest.fixture
def pair(fake_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    rig = Cluster.serving(fake_llm, tmp_path_factory.mktemp("pair"), 2)
    rig.alice = rig.create_key("user", "alice")  # type: ignore[attr-defined]
    with rig:
        yield rig


def test_a_draining_replica_leaves_rotation_and_finishes_its_turn(
    pair: Cluster, fake_llm: FakeLLM
) -> None:
    ids = {httpx.get(r.url + "/ready").json()["replica"]: r for r in pair.replicas}
    assert len(ids) == 2
    fake_llm.script(Slow("one two three four five six seven eight nine ten", delay=0.3))
    headers = {"authorization": f"Bearer {pair.alice}", "accept": "text/event-stream"}  # type: ignore[attr-defined]
    with (
        httpx.Client(base_url=pair.url, headers=headers, timeout=30) as client,
        client.stream("POST", "/v1/chat", json={"message": "count", "approval": "deny"}) as turn,
    ):
        assert turn.status_code == 200
        victim = ids[turn.headers[REPLICA_HEADER]]
        name = f"r{pair.replicas.index(victim)}"
        lines = turn.iter_lines()
        assert any("text.delta" in line for line in lines)  # the turn streams
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGTERM)
        # The victim says so itself while its turn runs on.
        ready = _poll(lambda: httpx.get(victim.url + "/ready"), lambda r: r.status_code == 503)
        assert ready.json()["reason"].startswith("draining")
        # Requests keep succeeding (a turn the victim refuses with 503 before HAProxy
        # takes it out is retried on the other replica), and none reach it once out.
        refused_there = 0
        for _ in range(3):
            resp = client.get("/v1/sessions")
            assert resp.status_code == 200, resp.text
            short = client.post("/v1/chat", json={"message": "quick", "approval": "deny"})
            assert short.status_code == 200, short.text
            assert '"type":"run.completed"' in short.text.replace(" ", "")
            refused_there += ids[short.headers[REPLICA_HEADER]] is victim
        assert refused_there == 0  # no new turn went to the draining replica
        pair.wait_states(lambda states: states[name] == "DOWN", 10)
        for _ in range(4):
            resp = client.get("/ready")
            assert resp.status_code == 200 and ids[resp.headers[REPLICA_HEADER]] is not victim
        # The victim's turn was not cut: it ends as it would have.
        rest = list(lines)
    data = [json.loads(line[5:]) for line in rest if line.startswith("data:")]
    assert data[-1]["type"] == "run.completed"
    assert data[-1]["text"] == "one two three four five six seven eight nine ten"
    assert victim.proc.wait(30) == 0
    assert pair.states()[name] == "DOWN"
