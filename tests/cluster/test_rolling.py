"""A rolling restart under load: three ``muxi serve`` replicas sharing one
PostgreSQL database behind HAProxy are restarted one by one (SIGTERM, exit,
start on the same port, UP again) while clients keep chatting through the
balancer with RemoteRuntime, over SSE and over the interactive WebSocket.
Every replica has a turn in flight when it is told to stop. No turn fails:
each ends with ``run.completed`` and its full reply, and the sessions hold
every question and reply, in order."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from muxi_cli.protocol import events as ev
from muxi_cli.protocol.events import Event
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from tests.cluster.rig import Cluster
from tests.fakellm import FakeLLM, Reply, Slow, Text
from tests.pgrig import PgServer
from tests.runtime.contract import collect

pytestmark = pytest.mark.slow

#: Clients chatting at once: (name, interactive?). The interactive one streams over
#: its WebSocket (one reused connection), the others over SSE.
CLIENTS = (("a", False), ("b", False), ("c", False), ("w", True))
#: Turns each client starts once the last restart is over (the restarted replicas
#: serve them), and at most in all (a bound; the restarts end well before it).
AFTER, MOST = 2, 200
SLOW_WORDS = "one two three four five six seven eight"
TOKEN = re.compile(r"\[(\w+-\d+)( slow)?\]")


def reply_text(token: str, slow: bool) -> str:
    return f"reply {token} " + (SLOW_WORDS if slow else "done")


def reply_to(question: str) -> str:
    found = TOKEN.search(question)
    assert found is not None, question
    return reply_text(found.group(1), bool(found.group(2)))


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        return str(content or "")
    return ""


def answer(body: dict[str, Any]) -> Reply:
    """The reply to a turn's question ``... [token]`` (slowly to ``[token slow]``):
    about 1 s of streaming for a slow one, so turns are in flight during restarts."""
    found = TOKEN.search(_last_user_text(body))
    if found is None:
        return Text("ok")
    token, slow = found.group(1), bool(found.group(2))
    if slow:
        return Slow(reply_text(token, True), delay=0.12)
    return Text(reply_text(token, False))


@pytest.fixture
def pg_trio(
    fake_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer
) -> Iterator[Cluster]:
    from muxi_cli.stores.pg_keys import PgKeyStore

    url = pg_server.create_database()
    try:
        rig = Cluster.serving(fake_llm, tmp_path_factory.mktemp("rolling"), 3, database_url=url)
        # A user (and key: its own rate-limit bucket) per client, and an admin key.
        keys = PgKeyStore(url, env_admin_key="")
        rig.keys = {name: keys.create("user", f"user-{name}")[1] for name, _ in CLIENTS}  # type: ignore[attr-defined]
        rig.admin = keys.create("admin", "ops")[1]  # type: ignore[attr-defined]
        with rig:
            yield rig
    finally:
        pg_server.drop_database(url)


async def _slow_turn_starting(url: str, key: str, slow: set[str], timeout: float = 30.0) -> str:
    """Until the replica at ``url`` runs one of the ``slow`` turns, begun less than
    0.3 s ago (most of its second of streaming ahead); its run id. Asks the
    replica's own ``/v1/runs/live`` (every user's runs, with an admin ``key``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {key}"}) as c:
        while loop.time() < deadline:
            resp = await c.get(url + "/v1/runs/live", timeout=5.0)
            for run in resp.json().get("runs", []) if resp.status_code == 200 else []:
                if run["run_id"] in slow and run["elapsed_ms"] < 300:
                    return str(run["run_id"])
            await asyncio.sleep(0.02)
    raise AssertionError(f"no slow turn started on {url} within {timeout} s")


def _fault(question: str, outcome: list[Event] | BaseException) -> str | None:
    """What is wrong with a turn's outcome, if anything."""
    want = reply_to(question)
    if isinstance(outcome, BaseException):
        return f"raised {outcome!r}"
    last = outcome[-1]
    if last.type != ev.RUN_COMPLETED or getattr(last, "text", "") != want:
        return f"ended with {last!r}"
    if "".join(getattr(e, "text", "") for e in outcome if e.type == ev.TEXT_DELTA) != want:
        return "the streamed text differs from the reply"
    return None


async def test_a_rolling_restart_under_load_fails_no_turn(
    pg_trio: Cluster, fake_llm: FakeLLM
) -> None:
    fake_llm.set_default(answer)
    loop = asyncio.get_running_loop()
    keys: dict[str, str] = pg_trio.keys  # type: ignore[attr-defined]
    rolled = asyncio.Event()
    #: The run ids of the slow turns, and those running on a replica when it was told to stop.
    slow_runs: set[str] = set()
    caught: list[str] = []
    restarts: list[float] = []
    notices: list[str] = []
    #: Per client: its session, how many turns its loop started, and for each turn
    #: (question, the turn's events or the error raised).
    sessions: dict[str, str] = {}
    started: dict[str, int] = {}
    turns: dict[str, list[tuple[str, list[Event] | BaseException]]] = {}

    async def client(name: str, interactive: bool) -> None:
        rt = RemoteRuntime(pg_trio.url, keys[name], label=name, on_notice=notices.append)
        done = turns.setdefault(name, [])
        n = after = 0
        try:
            while after < AFTER and n < MOST:
                after += rolled.is_set()
                slow = n % 2 == 0
                question = f"question [{name}-{n}{' slow' if slow else ''}]"
                n = started[name] = n + 1
                request = ChatRequest(
                    message=question,
                    session_id=sessions.get(name),
                    approval="interactive" if interactive else "deny",
                )
                try:
                    turn = await rt.chat(request)
                    if slow:
                        slow_runs.add(turn.run_id)
                    events = await collect(turn)
                except Exception as exc:  # a failed turn: reported below
                    done.append((question, exc))
                    continue
                done.append((question, events))
                sessions.setdefault(name, events[0].session_id)
        finally:
            await rt.aclose()

    async def roll() -> None:
        try:
            for i, replica in enumerate(pg_trio.replicas):
                admin = str(pg_trio.admin)  # type: ignore[attr-defined]
                caught.append(await _slow_turn_starting(replica.url, admin, slow_runs))
                t0 = loop.time()
                assert await asyncio.to_thread(pg_trio.restart, i) == 0
                restarts.append(loop.time() - t0)
        finally:
            rolled.set()

    began = loop.time()
    async with asyncio.TaskGroup() as group:
        group.create_task(roll())
        for name, interactive in CLIENTS:
            group.create_task(client(name, interactive))
    took = loop.time() - began

    failed = [f"{q}: {fault}" for d in turns.values() for q, o in d if (fault := _fault(q, o))]
    assert not failed, "\n".join([*failed, "notices:", *notices])
    # The turns running on each replica as it drained were among them, and completed.
    completed = {o[-1].run_id for d in turns.values() for _, o in d if isinstance(o, list)}
    assert len(caught) == 3 and set(caught) <= completed
    # Every loop ran on after the last restart; every turn it started is counted.
    assert all(len(turns[name]) == n > AFTER for name, n in started.items()), started
    assert len(started) == len(CLIENTS)
    # The sessions hold every question and reply, in order, read from any replica.
    for name, done in turns.items():
        want = [pair for q, _ in done for pair in (("user", q), ("assistant", reply_to(q)))]
        rt = RemoteRuntime(pg_trio.url, keys[name], label="check")
        try:
            got = [(m.role, m.content) for m in await rt.messages(sessions[name])]
        finally:
            await rt.aclose()
        assert got == want, name
    print(
        f"{sum(map(len, turns.values()))} turns in {took:.1f} s, restarts of "
        + ", ".join(f"{t:.1f}" for t in restarts)
        + f" s; notices: {notices}"
    )
