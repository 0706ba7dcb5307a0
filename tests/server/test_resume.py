"""Resumable turn streams: SSE ids, ``GET /v1/runs/{id}/events``, the resume grace."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.protocol.events import decode
from muxi_cli.server.context import ServerSettings
from muxi_cli.server.tape import follow_log
from muxi_cli.stores import run_events
from muxi_cli.stores.run_events import SQLiteEventLog
from muxi_cli.stores.server_keys import KeyStore
from tests.server.conftest import Served, start_server, stop_server
from tests.server.fakeruntime import FakeRuntime, Script

SSE = {"accept": "text/event-stream"}


def _frames(text: str) -> list[tuple[int, dict[str, object]]]:
    """``(id, event)`` of every SSE frame of a whole answer."""
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            out.append((int(fields["id"]), json.loads(fields["data"])))
    return out


async def _read_until_delta(resp: httpx.Response) -> list[tuple[int, dict[str, object]]]:
    """Read a live stream up to its first text.delta; returns the frames read."""
    got: list[tuple[int, dict[str, object]]] = []
    seq = 0
    async for line in resp.aiter_lines():
        if line.startswith("id: "):
            seq = int(line[4:])
        elif line.startswith("data: "):
            got.append((seq, json.loads(line[6:])))
            if got[-1][1]["type"] == "text.delta":
                return got
    raise AssertionError(f"no text.delta in {got}")


async def test_a_dropped_stream_resumes_where_it_stopped(served: Served) -> None:
    hold = asyncio.Event()
    served.runtime.script(Script(text="one two three four", hold=hold))
    alice = served.headers(served.alice)
    async with httpx.AsyncClient(base_url=served.url) as c:
        async with c.stream(
            "POST", "/v1/chat", json={"message": "go"}, headers={**alice, **SSE}
        ) as r:
            run_id = r.headers["x-muxi-run-id"]
            first = await _read_until_delta(r)
        assert [seq for seq, _ in first] == list(range(1, len(first) + 1))
        last = first[-1][0]
        # Dropped mid-turn: the turn waits for the resume grace (30 s by default).
        await asyncio.sleep(0.2)
        assert served.runtime.closed_turns == 0
        resumed = asyncio.create_task(
            c.get(f"/v1/runs/{run_id}/events", headers={**alice, "last-event-id": str(last)})
        )
        await asyncio.sleep(0.2)
        hold.set()
        rest = _frames((await resumed).text)
        assert [seq for seq, _ in rest] == list(range(last + 1, last + 1 + len(rest)))
        events = [e for _, e in first + rest]
        assert events[-1]["type"] == "run.completed"
        assert events[-1]["text"] == "one two three four"
        assert "".join(str(e["text"]) for e in events if e["type"] == "text.delta") == (
            "one two three four"
        )
        # After the end the whole run is still there (from the event log), by ?after= too.
        again = _frames(
            (await c.get(f"/v1/runs/{run_id}/events", params={"after": 2}, headers=alice)).text
        )
        assert [e for _, e in again] == events[2:]
        # Only its owner sees it: for anyone else it does not exist.
        bob = await c.get(f"/v1/runs/{run_id}/events", headers=served.headers(served.bob))
        cancel = await c.post(f"/v1/runs/{run_id}/cancel", headers=served.headers(served.bob))
        assert bob.status_code == cancel.status_code == 404
        assert bob.json()["error"]["message"] == cancel.json()["error"]["message"]
        bad = await c.get(f"/v1/runs/{run_id}/events", headers={**alice, "last-event-id": "x"})
        assert bad.status_code == 400


async def test_an_explicit_cancel_is_immediate_and_streams_end_with_it(served: Served) -> None:
    hold = asyncio.Event()
    served.runtime.script(Script(text="never finished", hold=hold))
    alice = served.headers(served.alice)
    async with httpx.AsyncClient(base_url=served.url) as c:
        async with c.stream(
            "POST", "/v1/chat", json={"message": "go"}, headers={**alice, **SSE}
        ) as r:
            run_id = r.headers["x-muxi-run-id"]
            await _read_until_delta(r)
        assert (await c.post(f"/v1/runs/{run_id}/cancel", headers=alice)).status_code == 202
        await asyncio.wait_for(served.runtime.turn_closed.wait(), 10)
        rest = _frames((await c.get(f"/v1/runs/{run_id}/events", headers=alice)).text)
        assert rest[-1][1]["type"] == "run.failed"
        assert rest[-1][1]["error"]["code"] == "cancelled"  # type: ignore[index]


async def test_a_restarted_server_replays_a_finished_run_from_the_log(
    tmp_path: Path, settings: ServerSettings
) -> None:
    keys = KeyStore(tmp_path / "keys.json")
    _, key = keys.create("user", "alice")
    alice = {"authorization": f"Bearer {key}"}
    url, server, task = await start_server(FakeRuntime(), keys, settings)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            r = await c.post("/v1/chat", json={"message": "hello"}, headers={**alice, **SSE})
            run_id = r.headers["x-muxi-run-id"]
            events = [e for _, e in _frames(r.text)]
    finally:
        await stop_server(server, task)
    url, server, task = await start_server(FakeRuntime(), keys, settings)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            r = await c.get(f"/v1/runs/{run_id}/events", headers=alice)
            assert r.status_code == 200 and r.headers["x-muxi-run-id"] == run_id
            assert [e for _, e in _frames(r.text)] == events
            assert events[-1]["type"] == "run.completed"
    finally:
        await stop_server(server, task)


async def test_the_log_writes_a_stream_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = SQLiteEventLog(tmp_path / "sessions.db", linger=0.05)
    commits: list[int] = []
    write = run_events._write

    def counting(conn: sqlite3.Connection, items: list[Any]) -> None:
        commits.append(len(items))
        write(conn, items)

    monkeypatch.setattr(run_events, "_write", counting)
    try:
        log.open_run("run_1", "alice", "s_1", "rep_x")
        for seq in range(1, 201):
            log.append("run_1", seq, f'{{"n": {seq}}}', seq == 200)
        await log.flush()
        info = await log.run("run_1")
        assert info is not None and info.done and info.user_id == "alice"
        rows = await log.read("run_1", 150)
        assert [seq for seq, _ in rows] == list(range(151, 201))
        # Not a commit per event: the writer gathers what arrives while it lingers.
        assert sum(commits) == 201 and len(commits) < 20
        assert await log.run("run_2") is None
    finally:
        await log.aclose()


async def test_a_run_whose_replica_stops_beating_ends_as_lost(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "sessions.db", linger=0.01)
    try:
        for run in ("run_alive", "run_dead"):
            log.open_run(run, "alice", "s_1", "rep_x")
            log.append(run, 1, '{"v": 2, "type": "run.started"}', False)
        beating = True

        async def beat() -> None:
            while beating:
                log.beat(["run_alive"])
                await asyncio.sleep(0.05)

        beats = asyncio.create_task(beat())
        await log.flush()
        dead = [e async for e in follow_log(log, "run_dead", poll=0.02, stale=0.4)]
        assert [seq for seq, _ in dead] == [1, 2]
        lost = decode(dead[-1][1])
        assert lost.type == "run.failed" and lost.error["code"] == "connection_failed"  # type: ignore[attr-defined]
        assert "stopped" in lost.error["message"]  # type: ignore[attr-defined]

        async def finish_later() -> None:
            await asyncio.sleep(0.8)  # twice the staleness: only the beats keep it alive
            log.append("run_alive", 2, '{"v": 2, "type": "run.completed"}', True)

        ender = asyncio.create_task(finish_later())
        alive = [e async for e in follow_log(log, "run_alive", poll=0.02, stale=0.4)]
        assert [json.loads(data)["type"] for _, data in alive] == ["run.started", "run.completed"]
        await ender
        beating = False
        await beats
    finally:
        await log.aclose()


async def test_a_resume_from_a_bad_event_number_is_a_400_never_a_broken_stream(
    served: Served,
) -> None:
    alice = served.headers(served.alice)
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await c.post("/v1/chat", json={"message": "hello"}, headers={**alice, **SSE})
        events = f"/v1/runs/{r.headers['x-muxi-run-id']}/events"
        huge = str(2**63)  # one past the log's 64-bit seq: SQLite raised OverflowError mid-stream
        for value in (huge, "9" * 40, "-1", "1.5", "1e3", "1_0", "+3", "0x10"):
            bad = await c.get(events, headers={**alice, "last-event-id": value})
            assert bad.status_code == 400, (value, bad.text)
            assert bad.json()["error"]["code"] == "usage_error"
        for value in (huge, "9" * 40, "-1", "1.5"):
            bad = await c.get(events, params={"after": value}, headers=alice)
            assert bad.status_code == 400, (value, bad.text)
        last = await c.get(events, headers={**alice, "last-event-id": str(2**63 - 1)})
        assert last.status_code == 200 and _frames(last.text) == []
