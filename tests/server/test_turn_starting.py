"""A repeat of a keyed start the server still holds gets 409 ``turn_starting``
(with ``Retry-After``), its own code apart from ``idempotency_conflict`` (events
no longer kept), and both Python clients retry it with the same key: the repeat
attaches to the one turn once it has started."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from muxi_cli.client import AsyncClient
from muxi_cli.protocol.events import RunCompleted
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.server import turn_keys
from tests.server.conftest import Served
from tests.server.test_turn_keys import _chat
from tests.server.test_turn_keys_once import _until


@dataclass
class Held:
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: int = 0  # starts that reached runtime.chat
    starting: int = 0  # 409 turn_starting answers given


def _hold(served: Served, monkeypatch: pytest.MonkeyPatch) -> Held:
    """Hold every start in ``runtime.chat`` until the gate opens (a long warm-up)."""
    monkeypatch.setattr(turn_keys, "WAIT_START", 0.3)
    held = Held()
    real_chat = served.runtime.chat

    async def slow_chat(req: Any) -> Any:
        held.entered += 1
        await held.gate.wait()
        return await real_chat(req)

    class Counted(turn_keys.TurnStarting):
        def __init__(self, *args: Any, **kw: Any) -> None:
            held.starting += 1
            super().__init__(*args, **kw)

    monkeypatch.setattr(served.runtime, "chat", slow_chat)
    monkeypatch.setattr(turn_keys, "TurnStarting", Counted)
    return held


async def test_a_start_still_starting_is_its_own_409_with_retry_after(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = _hold(served, monkeypatch)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        first = asyncio.create_task(_chat(c, served.alice, "k-held"))
        await _until(lambda: held.entered == 1)
        waited = await _chat(c, served.alice, "k-held")
        held.gate.set()
        await first
    assert waited.status_code == 409, waited.text
    assert waited.json()["error"]["code"] == "turn_starting"
    assert float(waited.headers["retry-after"]) > 0


@pytest.mark.parametrize("repeat", ["client", "runtime"])
async def test_the_clients_retry_a_start_still_starting_with_its_key(
    served: Served, monkeypatch: pytest.MonkeyPatch, repeat: str
) -> None:
    """Two starts with one key (a client's lost first try and its retry): the
    second gets ``turn_starting`` while the first is held, tries again with the
    same key, and follows the one turn to its end."""
    import muxi_cli.client.aclient as aclient
    import muxi_cli.runtime.remote as remote

    held = _hold(served, monkeypatch)
    monkeypatch.setattr(aclient, "turn_key", lambda: "k-held")
    monkeypatch.setattr(remote, "turn_key", lambda: "k-held")
    async with AsyncClient(served.url, served.alice) as client:
        first = asyncio.create_task(client.chat("hi"))
        await _until(lambda: held.entered == 1)
        if repeat == "client":
            again = asyncio.create_task(client.chat("hi"))
        else:
            rt = served.remote(served.alice)
            again = asyncio.create_task(rt.chat(ChatRequest(message="hi")))
        await _until(lambda: held.starting >= 1)
        held.gate.set()
        one = await (await first)
        if repeat == "client":
            two = await (await again)
            assert (two.status, two.run_id) == ("completed", one.run_id)
        else:
            try:
                turn = await again
                events = [e async for e in turn.events()]
            finally:
                await rt.aclose()
            assert isinstance(events[-1], RunCompleted) and events[-1].run_id == one.run_id
    assert one.status == "completed"
    assert held.entered == 1, "the turn started twice"
