"""Reconnection: the client outlives a restart of its server (same port, same data)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from muxi_cli.client import AsyncClient
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Text
from tests.runtime.contract import formation_yaml
from tests.server.serveproc import ServeProcess


@pytest.fixture
def restartable(module_llm: FakeLLM, tmp_path: Path) -> Iterator[tuple[ServeProcess, str]]:
    config = tmp_path / "muxi.yaml"
    config.write_text(formation_yaml(module_llm), encoding="utf-8")
    _, key = KeyStore(tmp_path / "home" / "data" / "server_keys.json").create("user", "alice")
    proc = ServeProcess(tmp_path / "home", config).start()
    try:
        yield proc, key
    finally:
        proc.stop()


async def test_turns_and_calls_go_on_after_a_restart(
    restartable: tuple[ServeProcess, str], module_llm: FakeLLM
) -> None:
    proc, key = restartable
    module_llm.reset()
    notices: list[str] = []
    async with AsyncClient(proc.url, key, retries=12, on_notice=notices.append) as c:
        module_llm.script(Text("before"), Text("before too"))
        ws_turn = await (await c.chat("one", transport="ws"))
        sse_turn = await (await c.chat("two"))
        assert (ws_turn.reply, sse_turn.reply) == ("before", "before too")

        assert proc.stop() == 0
        # A GET while the server is down is tried again until it is back.
        waiting = asyncio.create_task(c.sessions.get(ws_turn.session_id))
        await asyncio.to_thread(proc.start)
        assert (await waiting)["id"] == ws_turn.session_id

        module_llm.script(Text("after"), Text("after too"))
        again = await (await c.chat("three", session_id=ws_turn.session_id, transport="ws"))
        assert (again.status, again.reply) == ("completed", "after")  # the WebSocket reopened
        assert (await (await c.chat("four"))).reply == "after too"
    assert any("closed while idle" in n or "reconnect" in n for n in notices), notices
