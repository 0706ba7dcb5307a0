"""Turn semantics over the local host's socket (a real LocalRuntime behind it).

A client that goes away mid-turn (its connection dropped, or its process
killed) cancels its turn, and the partial reply is stored as cancelled. The
host killed mid-turn gives ``muxi chat`` exit 1 with a clear message, and the
partial reply is in the session once the formation is opened again. Parallel
one-shot clients share one socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.protocol import events as ev
from muxi_cli.protocol.events import decode
from muxi_cli.protocol.records import ChatRequest, SessionMessage
from muxi_cli.runtime.profiles import add_profile
from muxi_cli.runtime.unixhttp import UnixTransport
from muxi_cli.runtime.wire import UNIX_URL
from tests.fakellm import FakeLLM, Slow, Text
from tests.procs import stopping
from tests.runtime.contract import collect, formation_yaml
from tests.server.udsfixtures import UdsServed
from tests.server.udsserver import UdsServer

SLOW = "one two three four five six seven eight nine ten"


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def cancelled_reply(served: UdsServed, session_id: str) -> SessionMessage:
    """The session's last message, once the server stored it as cancelled."""
    out: list[SessionMessage] = []

    async def stored() -> bool:
        msgs = await served.runtime.messages(session_id)
        out[:] = msgs[-1:]
        return bool(out) and out[0].role == "assistant" and out[0].status == "cancelled"

    await until(stored, "the partial reply stored as cancelled")
    return out[0]


@pytest.fixture
async def http(uds_served: UdsServed) -> AsyncIterator[httpx.AsyncClient]:
    transport = UnixTransport(uds_served.socket, httpx.Limits())
    headers = {"authorization": f"Bearer {uds_served.alice}", "accept": "text/event-stream"}
    async with httpx.AsyncClient(base_url=UNIX_URL, transport=transport, headers=headers) as c:
        yield c


async def test_an_sse_client_that_drops_its_connection_cancels_its_turn(
    uds_served: UdsServed, fake_llm: FakeLLM, http: httpx.AsyncClient
) -> None:
    fake_llm.script(Slow(SLOW, delay=0.2))
    session_id = ""
    async with http.stream("POST", "/v1/chat", json={"message": "count"}) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                event = decode(line[6:])
                session_id = event.session_id
                if isinstance(event, ev.TextDelta):
                    break  # leaving the block closes the connection mid-turn
    reply = await cancelled_reply(uds_served, session_id)
    assert reply.content.startswith("one") and "ten" not in reply.content


async def test_a_websocket_client_that_drops_its_connection_cancels_its_turn(
    uds_served: UdsServed, fake_llm: FakeLLM
) -> None:
    from websockets.asyncio.client import unix_connect

    fake_llm.script(Slow(SLOW, delay=0.2))
    headers = {"authorization": f"Bearer {uds_served.alice}"}
    session_id = ""
    async with unix_connect(
        str(uds_served.socket), "ws://muxi-host/v1/ws", additional_headers=headers
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(json.dumps({"type": "chat", "request": {"message": "count"}}))
        while True:
            frame = json.loads(await ws.recv())
            if "run_id" in frame and frame.get("type", "").startswith(("run.", "text.")):
                event = decode(frame)
                session_id = event.session_id
                if isinstance(event, ev.TextDelta):
                    break
        ws.transport.abort()  # gone without a close frame or a cancel, like a killed process
    reply = await cancelled_reply(uds_served, session_id)
    assert reply.content.startswith("one") and "ten" not in reply.content


def client_env(sock: Path, key: str) -> dict[str, str]:
    """``muxi chat`` through a profile whose URL is the socket (``unix:/path``)."""
    add_profile("host", f"unix:{sock}")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(MUXI_PROFILE="host", MUXI_API_KEY=key, NO_COLOR="1")
    return env


CHAT = [sys.executable, "-m", "muxi_cli", "chat", "count", "-o", "jsonl"]


async def test_a_killed_muxi_chat_cancels_its_turn(
    uds_served: UdsServed, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Slow(SLOW, delay=0.2))
    env = client_env(uds_served.socket, uds_served.alice)
    proc = await asyncio.create_subprocess_exec(
        *CHAT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        session_id = ""
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, "muxi chat ended before any text"
            event = decode(line.decode())
            session_id = event.session_id
            if isinstance(event, ev.TextDelta):
                break
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    reply = await cancelled_reply(uds_served, session_id)
    assert reply.content.startswith("one") and "ten" not in reply.content


@pytest.mark.slow
def test_a_killed_host_gives_exit_1_and_keeps_the_partial_reply(
    muxi_home: Path, tmp_path: Path, sock_dir: Path, fake_llm: FakeLLM
) -> None:
    config = tmp_path / "muxi.yaml"
    config.write_text(formation_yaml(fake_llm), encoding="utf-8")
    fake_llm.script(Slow(SLOW, delay=0.3))
    with UdsServer(muxi_home, config, sock_dir / "h.sock") as server:
        env = client_env(server.socket, server.user)
        client = subprocess.Popen(
            CHAT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        with stopping(client):
            assert client.stdout is not None and client.stderr is not None
            words = 0
            session_id = ""
            while words < 3:  # a few words in: the writer has stored some of the reply
                line = client.stdout.readline()
                assert line, client.stderr.read().decode()
                event = decode(line.decode())
                session_id = event.session_id
                words += isinstance(event, ev.TextDelta)
            server.kill()
            out, err = client.communicate(timeout=30)
        assert client.returncode == 1, err.decode()
        last = decode(out.decode().strip().splitlines()[-1])
        assert isinstance(last, ev.RunFailed) and last.error["code"] == "connection_failed"
        assert "the connection to host was lost" in err.decode()
    messages = asyncio.run(_reopen_messages(config, session_id))
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[-1].status == "interrupted" and messages[-1].content.startswith("one two")


async def _reopen_messages(config: Path, session_id: str) -> list[SessionMessage]:
    from muxi_cli.runtime.local import LocalRuntime

    runtime = await LocalRuntime.open(config_path=config, start_tools=False)
    try:
        return await runtime.messages(session_id)
    finally:
        await runtime.aclose()


async def test_eight_parallel_one_shot_turns_share_the_socket(
    uds_served: UdsServed, fake_llm: FakeLLM
) -> None:
    fake_llm.set_default(Text("done"))

    async def one(i: int) -> tuple[str, list[Any]]:
        rt = uds_served.remote()
        try:
            turn = await rt.chat(ChatRequest(message=f"question {i}"))
            return turn.session_id, await collect(turn)
        finally:
            await rt.aclose()

    results = await asyncio.gather(*(one(i) for i in range(8)))
    assert all(events[-1].type == ev.RUN_COMPLETED for _, events in results)
    assert len({sid for sid, _ in results}) == 8
