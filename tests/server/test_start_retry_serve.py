"""A real ``muxi serve`` behind a loopback proxy that loses a turn start: the
clients send the start again with its idempotency key, and the turn (its tool
writes a ledger) runs once and completes.

The proxy loses the start in the two ways a client cannot tell apart: the
connection is reset before anything reaches the server, or the server reads the
start and its answer is thrown away with the connection."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Literal

from muxi_cli.client import AsyncClient
from muxi_cli.protocol.events import RunCompleted
from muxi_cli.protocol.records import ApprovalMode, ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.server.loopproxy import LoopbackProxy
from tests.server.serveproc import ServeProcess
from tests.server.test_turn_once_serve import LEDGER, _idle, record_then_answer

Cut = Literal["reset", "answer"]


class LoseOneStart(LoopbackProxy):
    """A loopback proxy to ``target_port`` that, once :meth:`arm` ed, loses the
    next start (the next chunk any connection sends). ``reset``: the connection
    is cut as that chunk arrives (the server sees nothing). ``answer``: the
    client's first ``sends`` chunks pass (the WebSocket handshake, then the chat
    frame; or the POST), and the server's first answer after them is dropped
    with both connections."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.cuts = 0
        self._armed: tuple[Cut, int] | None = None

    def arm(self, cut: Cut, sends: int = 1) -> None:
        self._armed = (cut, sends)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        pair = (writer, up_writer)
        # Armed at the connection's next chunk, not its accept: a start may go
        # on a kept connection (the one that asked the server's version first).
        armed: tuple[Cut, int] | None = None
        sent = 0

        async def up() -> None:
            nonlocal sent, armed
            while data := await reader.read(65536):
                if armed is None and self._armed is not None:
                    armed, self._armed, sent = self._armed, None, 0
                    if armed[0] == "reset":  # the server sees nothing of it
                        self.cuts += 1
                        self._cut(pair)
                        return
                up_writer.write(data)
                await up_writer.drain()
                sent += 1

        async def down() -> None:
            while data := await up_reader.read(65536):
                if armed is not None and armed[0] == "answer" and sent >= armed[1]:
                    self.cuts += 1
                    self._cut(pair)
                    return
                writer.write(data)
                await writer.drain()

        await self._relay(pair, up(), down())


def _serve(fake_llm: FakeLLM, tmp_path: Path) -> tuple[ServeProcess, Path, str]:
    home = tmp_path / "home"
    ledger = tmp_path / "ledger.txt"
    ledger.touch()
    _, alice = KeyStore(home / "data" / "server_keys.json").create("user", "alice")
    extra = (
        f"mcp_servers:\n  ledger:\n    command: {sys.executable}\n"
        f"    args: [{str(LEDGER)!r}, {str(ledger)!r}]\n    approval: allow\n"
        "agents:\n  - name: a\n    mcp_servers: [ledger]\n"
    )
    config = tmp_path / "muxi.yaml"
    config.write_text(fake_llm.formation_yaml(extra=extra))
    fake_llm.set_default(record_then_answer)
    return ServeProcess(home, config), ledger, alice


#: (transport, how the start is lost, client chunks that pass before the cut).
CASES: list[tuple[Literal["sse", "ws"], Cut, int]] = [
    ("sse", "reset", 0),
    ("sse", "answer", 1),  # the POST reached the server: the retry attaches to its turn
    ("ws", "answer", 2),  # a fresh socket: the handshake passes, the chat frame is read
]


async def test_the_python_client_retries_a_lost_start_and_the_turn_runs_once(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    serve_proc, ledger, alice = _serve(fake_llm, tmp_path)
    with serve_proc as serve:
        async with LoseOneStart(serve.port).running() as proxy:
            for n, (transport, cut, sends) in enumerate(CASES):
                async with AsyncClient(f"http://127.0.0.1:{proxy.port}", alice) as client:
                    await client.me()  # its answer says the server keeps keys (1.2+)
                    proxy.arm(cut, sends)
                    result = await (await client.chat(f"c{n}", transport=transport))
                    assert result.status == "completed", (transport, cut, result.error)
                    assert result.reply == "noted"
                assert proxy.cuts == n + 1
        await _idle(serve.url, alice)
    assert ledger.read_text().splitlines() == [f"c{n}" for n in range(len(CASES))]


async def test_the_remote_runtime_retries_a_lost_start_and_the_turn_runs_once(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    serve_proc, ledger, alice = _serve(fake_llm, tmp_path)
    with serve_proc as serve:
        async with LoseOneStart(serve.port).running() as proxy:
            for n, (transport, cut, sends) in enumerate(CASES):
                rt = RemoteRuntime(f"http://127.0.0.1:{proxy.port}", alice)
                try:
                    # The runtime takes the WebSocket for interactive approval.
                    approval: ApprovalMode = "interactive" if transport == "ws" else "deny"
                    await rt.agents()  # its answer says the server keeps keys (1.2+)
                    proxy.arm(cut, sends)
                    turn = await rt.chat(ChatRequest(message=f"r{n}", approval=approval))
                    events = [e async for e in turn.events()]
                finally:
                    await rt.aclose()
                assert isinstance(events[-1], RunCompleted), (transport, cut, events[-1])
                assert proxy.cuts == n + 1
        await _idle(serve.url, alice)
    assert ledger.read_text().splitlines() == [f"r{n}" for n in range(len(CASES))]
