"""A real ``muxi serve`` whose WebSocket drops right after it read a chat frame:
the client sends the frame again on a new connection (it cannot tell whether the
server saw it), and the turn, with its tool that writes a ledger, runs once."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx

from muxi_cli.client import AsyncClient
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Reply, Text, ToolCalls
from tests.server.loopproxy import LoopbackProxy
from tests.server.serveproc import ServeProcess

LEDGER = Path(__file__).resolve().parent.parent / "mcp_servers" / "ledger_server.py"


class DropAfterRead(LoopbackProxy):
    """A loopback proxy to ``target_port``. Once :meth:`arm` ed, the next thing the
    client sends is forwarded, and when the server answers it (so it read it) the
    answer is thrown away and both connections are cut: the client never learns
    that its frame arrived."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.drops = 0
        self._armed = False
        self._sent_armed = False

    def arm(self) -> None:
        self._armed, self._sent_armed = True, False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        pair = (writer, up_writer)

        async def up() -> None:
            while data := await reader.read(65536):
                up_writer.write(data)
                await up_writer.drain()
                if self._armed:
                    self._sent_armed = True

        async def down() -> None:
            while data := await up_reader.read(65536):
                if self._armed and self._sent_armed:
                    self._armed = False
                    self.drops += 1
                    self._cut(pair)
                    return
                writer.write(data)
                await writer.drain()

        await self._relay(pair, up(), down())


def record_then_answer(request: dict[str, Any]) -> Reply:
    """Every turn records its message in the ledger once, then answers."""
    messages = request["messages"]
    if messages[-1]["role"] == "tool":
        return Text("noted")
    note = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    return ToolCalls([("ledger__record", {"note": note if isinstance(note, str) else "?"})])


async def _idle(url: str, key: str) -> None:
    """Wait until the server runs no turn of this user (an orphan turn would still run)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        for _ in range(600):
            live = (await c.get("/v1/runs/live", headers={"authorization": f"Bearer {key}"})).json()
            if not live["runs"]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"turns still running: {live}")


async def test_a_chat_frame_the_server_read_before_the_socket_dropped_runs_once(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
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
    notices: list[str] = []
    with ServeProcess(home, config) as serve:
        async with (
            DropAfterRead(serve.port).running() as proxy,
            AsyncClient(
                f"http://127.0.0.1:{proxy.port}", alice, on_notice=notices.append
            ) as client,
        ):
            first = await (await client.chat("first", transport="ws"))
            assert first.status == "completed", first.error
            proxy.arm()  # the next chat frame reaches the server, its answer does not
            second = await (await client.chat("second", transport="ws"))
            assert second.status == "completed", second.error
            assert second.reply == "noted"
        await _idle(serve.url, alice)
    assert proxy.drops == 1
    assert any("closed while idle" in n for n in notices), notices  # the client did resend
    assert ledger.read_text().splitlines() == ["first", "second"]
