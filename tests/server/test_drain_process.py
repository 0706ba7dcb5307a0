"""SIGTERM on a real `muxi serve`: no new turns, running ones finish or are cancelled
within the grace with their partial replies saved, and every stream ends with a
closing event that says why; the events stay resumable after a restart."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Slow
from tests.server.serveproc import ServeProcess

SSE = {"accept": "text/event-stream"}


class Stream:
    """One streamed turn read in the background: its frames as ``(id, event)``."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str], message: str) -> None:
        self.frames: list[tuple[int, dict[str, Any]]] = []
        self.run_id = ""
        self.started = asyncio.Event()
        self.task = asyncio.create_task(self._read(client, headers, message))

    async def _read(self, client: httpx.AsyncClient, headers: dict[str, str], message: str) -> None:
        body = {"message": message}
        async with client.stream("POST", "/v1/chat", json=body, headers={**headers, **SSE}) as r:
            self.run_id = r.headers["x-muxi-run-id"]
            seq = 0
            async for line in r.aiter_lines():
                if line.startswith("id: "):
                    seq = int(line[4:])
                elif line.startswith("data: "):
                    self.frames.append((seq, json.loads(line[6:])))
                    if self.frames[-1][1]["type"] == "text.delta":
                        self.started.set()

    @property
    def last(self) -> dict[str, Any]:
        return self.frames[-1][1]


async def _until_draining(client: httpx.AsyncClient, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await client.get("/health")).json().get("draining"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the server never started draining")


async def test_sigterm_drains_turns_and_keeps_what_was_said(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    config = fake_llm.write_formation(tmp_path)
    _, key = KeyStore(home / "data" / "server_keys.json").create("user", "alice")
    auth = {"authorization": f"Bearer {key}"}
    quick = "one two three four"
    slow = " ".join(f"w{i}" for i in range(60))
    fake_llm.script(Slow(quick, delay=0.3), Slow(slow, delay=0.3))
    proc = ServeProcess(home, config, args=("--grace", "3")).start()
    try:
        async with httpx.AsyncClient(base_url=proc.url, timeout=30) as c:
            fast_turn = Stream(c, auth, "quick one")
            await asyncio.wait_for(fast_turn.started.wait(), 30)
            slow_turn = Stream(c, auth, "slow one")
            await asyncio.wait_for(slow_turn.started.wait(), 30)
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGTERM)
            await _until_draining(c)
            late = await c.post("/v1/chat", json={"message": "late"}, headers=auth)
            assert late.status_code == 503 and late.json()["error"]["code"] == "shutting_down"
            await asyncio.wait_for(asyncio.gather(fast_turn.task, slow_turn.task), 30)
        assert await asyncio.to_thread(proc.proc.wait, 30) == 0, proc.log()

        # The quick turn finished within the grace; the slow one was cancelled, saying why.
        assert fast_turn.last["type"] == "run.completed" and fast_turn.last["text"] == quick
        assert slow_turn.last["type"] == "run.failed"
        assert slow_turn.last["error"]["code"] == "cancelled"
        assert "shutting down" in slow_turn.last["error"]["message"]
        for stream in (fast_turn, slow_turn):
            assert [seq for seq, _ in stream.frames] == list(range(1, len(stream.frames) + 1))

        proc.start()  # the same data folder: the partial reply and the events are kept
        async with httpx.AsyncClient(base_url=proc.url, timeout=30) as c:
            sid = slow_turn.frames[0][1]["session_id"]
            msgs = (await c.get(f"/v1/sessions/{sid}/messages", headers=auth)).json()
            assert msgs[-1]["role"] == "assistant" and msgs[-1]["status"] == "cancelled"
            assert msgs[-1]["content"].startswith("w0") and "w59" not in msgs[-1]["content"]
            replay = await c.get(f"/v1/runs/{slow_turn.run_id}/events", headers=auth)
            events = [
                json.loads(line[6:]) for line in replay.text.splitlines() if line[:6] == "data: "
            ]
            assert events == [e for _, e in slow_turn.frames]
    finally:
        proc.stop()
