"""Two ``muxi serve`` replicas sharing PostgreSQL, each with the elicitation MCP
test server: a question of a turn one replica runs is answered through the other
(``POST /v1/elicitations/{id}`` and the WebSocket ``elicit`` frame), by the
turn's own user only, and its row goes when the turn ends."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.stores import pgconn
from tests.cluster.rig import Cluster
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.pgrig import PgServer
from tests.server.test_elicitation import servers_ready

pytestmark = pytest.mark.slow

SERVER = Path(__file__).resolve().parent.parent / "mcp_servers" / "elicit_server.py"
EXTRA = (
    f"mcp_servers:\n  booker:\n    command: {sys.executable}\n    args: [{str(SERVER)!r}]\n"
    "    approval: allow\n"
    "agents:\n  - name: a\n    mcp_servers: [booker]\n"
)
SSE = {"accept": "text/event-stream"}
#: Longer than PostgreSQL's NOTIFY takes (8000 bytes): such an answer is stored.
LONG_NAME = "N" * 9000


class Rig:
    def __init__(self, cluster: Cluster, url: str, alice: str, bob: str) -> None:
        self.cluster, self.url, self.alice, self.bob = cluster, url, alice, bob

    def on(self, i: int) -> str:
        return self.cluster.replicas[i].url

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        conn = pgconn.connect(self.url)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    async def until_no_rows(self, table: str) -> None:
        """Until ``table`` is empty (a turn's rows go just after its last event)."""
        for _ in range(200):
            if not self.rows(f"SELECT 1 FROM {table}"):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{table} kept {self.rows(f'SELECT * FROM {table}')}")


@pytest.fixture(scope="module")
def rig(
    module_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer
) -> Iterator[Rig]:
    from muxi_cli.stores.pg_keys import PgKeyStore

    url = pg_server.create_database()
    root = tmp_path_factory.mktemp("elicit-cluster")
    config = module_llm.write_formation(root, extra=EXTRA)
    keys = PgKeyStore(url, env_admin_key="")
    alice, bob = keys.create("user", "alice")[1], keys.create("user", "bob")[1]
    keys.close()
    try:
        with Cluster(root, config, 2, database_url=url) as cluster:
            yield Rig(cluster, url, alice, bob)
    finally:
        pg_server.drop_database(url)


@pytest.fixture
async def ready(rig: Rig, module_llm: FakeLLM) -> AsyncIterator[Rig]:
    module_llm.reset()
    for i in range(2):
        await servers_ready(rig.on(i), rig.alice)
    yield rig


Answer = Callable[[dict[str, Any]], Awaitable[None]]


async def turn_on_first(rig: Rig, answer: Answer) -> list[dict[str, Any]]:
    """An interactive SSE turn of alice's on replica 0; ``answer`` gets its pending
    ``elicitation.requested`` event. The turn's events."""
    events: list[dict[str, Any]] = []
    body = {"message": "book", "approval": "interactive"}
    async with (
        httpx.AsyncClient(base_url=rig.on(0), timeout=60) as c,
        c.stream("POST", "/v1/chat", json=body, headers={**rig.auth(rig.alice), **SSE}) as s,
    ):
        async for line in s.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["type"] == "elicitation.requested":
                    assert events[-1]["pending"]
                    await answer(events[-1])
    return events


async def test_an_answer_posted_to_the_other_replica_reaches_the_turn(
    ready: Rig, module_llm: FakeLLM
) -> None:
    module_llm.script(ToolCalls([("booker__book_table", {"day": "Fri"})]), Text("Booked."))
    answered: list[httpx.Response] = []

    async def answer(event: dict[str, Any]) -> None:
        path = f"/v1/elicitations/{event['elicitation_id']}"
        async with (
            httpx.AsyncClient(base_url=ready.on(0), timeout=30) as c0,
            httpx.AsyncClient(base_url=ready.on(1), timeout=30) as c1,
        ):
            good = {"action": "accept", "content": {"name": LONG_NAME, "party": 3}}
            # Bob does not own alice's question: the same 404 on either replica.
            on_0 = await c0.post(path, json=good, headers=ready.auth(ready.bob))
            on_1 = await c1.post(path, json=good, headers=ready.auth(ready.bob))
            assert on_0.status_code == on_1.status_code == 404, on_1.text
            assert on_0.json() == on_1.json()
            # The owner checks the content and its error comes back (a long one, stored).
            extra = {"action": "accept", "content": {"name": "A", "party": 1, "x" * 9000: 1}}
            bad = await c1.post(path, json=extra, headers=ready.auth(ready.alice))
            assert bad.status_code == 400, bad.text
            assert "did not ask" in bad.json()["error"]["message"]
            answered.append(await c1.post(path, json=good, headers=ready.auth(ready.alice)))
            # Answered: there is nothing left to answer, on either replica.
            again = await c1.post(path, json=good, headers=ready.auth(ready.alice))
            assert again.status_code == 404, again.text

    events = await turn_on_first(ready, answer)
    run_id = events[0]["run_id"]
    assert answered[0].status_code == 200, answered[0].text
    assert answered[0].json()["run_id"] == run_id
    resolved = next(e for e in events if e["type"] == "elicitation.resolved")
    assert (resolved["action"], resolved["by"]) == ("accept", "user")
    result = next(e for e in events if e["type"] == "tool.result")
    assert result["content"] == f"booked Fri for {LONG_NAME}, 3 people"
    assert events[-1]["type"] == "run.completed"
    await ready.until_no_rows("pending_elicitations")
    assert ready.rows("SELECT id FROM cluster_messages") == []  # the receiver took them


async def _frame(ws: Any, frame: dict[str, Any]) -> dict[str, Any]:
    """Send ``frame`` then a ping: the error it caused, or the pong (frames are
    handled in order, and an answered ``elicit`` says nothing)."""
    await ws.send(json.dumps(frame))
    await ws.send(json.dumps({"type": "ping"}))
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 30)))


async def test_an_elicit_frame_on_the_other_replica_reaches_the_turn(
    ready: Rig, module_llm: FakeLLM
) -> None:
    from websockets.asyncio.client import connect

    module_llm.script(ToolCalls([("booker__book_table", {"day": "Sat"})]), Text("Booked."))
    said: list[dict[str, Any]] = []

    async def answer(event: dict[str, Any]) -> None:
        frame = {
            "type": "elicit",
            "elicitation_id": event["elicitation_id"],
            "action": "accept",
            "content": {"name": "Ann", "party": 2},
        }
        for key in (ready.bob, ready.alice):
            async with connect("ws" + ready.on(1)[4:] + "/v1/ws") as ws:
                await ws.send(json.dumps({"type": "auth", "key": key}))
                assert json.loads(await ws.recv())["type"] == "ready"
                said.append(await _frame(ws, frame))
        assert said[0]["type"] == "error" and said[0]["ref"] == "elicit"
        assert said[0]["error"]["code"] == "not_found"  # bob's socket
        assert said[1] == {"type": "pong"}  # alice's: answered

    events = await turn_on_first(ready, answer)
    result = next(e for e in events if e["type"] == "tool.result")
    assert result["content"] == "booked Sat for Ann, 2 people"
    assert events[-1]["type"] == "run.completed"


async def test_a_question_goes_with_its_turn(ready: Rig, module_llm: FakeLLM) -> None:
    module_llm.script(ToolCalls([("booker__book_table", {"day": "Sun"})]), Text("Booked."))
    after: list[int] = []

    async def cancel(event: dict[str, Any]) -> None:
        filed = ready.rows("SELECT elicitation_id, user_id FROM pending_elicitations")
        assert filed == [(event["elicitation_id"], "alice")]  # before the event was sent
        async with httpx.AsyncClient(base_url=ready.on(1), timeout=30) as c1:
            path = f"/v1/runs/{event['run_id']}/cancel"
            r = await c1.post(path, headers=ready.auth(ready.alice))
            assert r.status_code == 202, r.text

    events = await turn_on_first(ready, cancel)
    assert events[-1]["type"] == "run.failed" and events[-1]["error"]["code"] == "cancelled"
    await ready.until_no_rows("pending_elicitations")
    asked = next(e for e in events if e["type"] == "elicitation.requested")
    for i in range(2):
        async with httpx.AsyncClient(base_url=ready.on(i), timeout=30) as c:
            r = await c.post(
                f"/v1/elicitations/{asked['elicitation_id']}",
                json={"action": "decline"},
                headers=ready.auth(ready.alice),
            )
            after.append(r.status_code)
    assert after == [404, 404]
