"""A drain that begins while a turn is being started (past the draining check,
inside the runtime's ``chat``: a warming runtime, attachments being checked)
waits for that turn like any other running one, and cancels it when the grace
runs out."""

from __future__ import annotations

import asyncio

from muxi_cli.protocol import events as ev
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.turns import TaskTurn
from muxi_cli.server.runs import Running, RunRegistry
from tests.server.fakeruntime import FakeRuntime, Script


class GatedRuntime(FakeRuntime):
    """``chat`` waits for ``go`` once entered (``entered``)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    async def chat(self, request: ChatRequest) -> TaskTurn:
        self.entered.set()
        await self.go.wait()
        return await super().chat(request)


async def _closing_event(running: Running) -> str:
    """The type of the turn's last event (it must end soon)."""

    async def last() -> str:
        kind = ""
        async for _seq, event, _data in running.tape.follow():
            kind = event.type
        return kind

    try:
        return await asyncio.wait_for(last(), 10)
    finally:
        await running.turn.cancel()  # nothing left running if it did not end


async def _start_during_drain(
    grace: float, hold: asyncio.Event
) -> tuple[RunRegistry, Running, asyncio.Task[None]]:
    """A turn (held after its first word by ``hold``) whose start is under way when
    a drain of ``grace`` s begins."""
    rt, registry = GatedRuntime(), RunRegistry()
    rt.script(Script(text="one two three", hold=hold))
    start = asyncio.create_task(registry.start(rt, ChatRequest(message="hi", user_id="u")))
    await rt.entered.wait()  # past the draining check
    drain = asyncio.create_task(registry.drain(grace))
    rt.go.set()  # the drain task runs its first step before the start resumes
    running = await start
    return registry, running, drain


async def test_a_turn_started_as_the_drain_begins_gets_the_grace() -> None:
    hold = asyncio.Event()
    registry, running, drain = await _start_during_drain(30.0, hold)
    assert registry.draining and not drain.done()  # it waits for the turn
    hold.set()
    await asyncio.wait_for(drain, 10)
    assert await _closing_event(running) == ev.RUN_COMPLETED


async def test_a_turn_started_as_the_drain_begins_is_cancelled_after_the_grace() -> None:
    _registry, running, drain = await _start_during_drain(0.05, asyncio.Event())
    await asyncio.wait_for(drain, 10)
    assert await _closing_event(running) == ev.RUN_FAILED
    assert running.stopped_by is not None and running.stopped_by.code == "cancelled"
