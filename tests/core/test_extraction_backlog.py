"""Issue 13, hole 12: memory extraction never piles up behind fast turns.

Each completed turn used to start its own background extraction task holding a
copy of the session's history; with turns faster than extraction the tasks
(and the memory they hold) grew without bound. Now one extraction per session
runs at a time, and the turns that finish meanwhile are folded into one more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from muxi_cli.config.schema import AgentConfig
from muxi_cli.llm.base import Message
from muxi_cli.memory.base import NoMemory
from tests.core.conftest import collect, request


class SlowExtraction(NoMemory):
    """Extraction that waits until the test lets it finish."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.release = asyncio.Event()

    async def after_turn(
        self, user_id: str, agent: AgentConfig, session_id: str, history: list[Message]
    ) -> None:
        self.calls.append(len(history))
        await self.release.wait()


async def test_turns_faster_than_extraction_run_one_more_not_one_each(
    make_runtime: Callable[..., Any],
) -> None:
    memory = SlowExtraction()
    runtime = make_runtime(memory=memory)
    first = await collect(runtime.chat(request("turn 0")))
    session = first[-1].session_id
    for i in range(1, 6):
        await collect(runtime.chat(request(f"turn {i}", session_id=session)))
    background = runtime.orchestrator._background
    assert len(background) == 1  # the first extraction, still running; no backlog
    assert memory.calls == [2]

    memory.release.set()
    await runtime.orchestrator.drain(10)
    # One more run took every turn that finished meanwhile (the whole history).
    assert memory.calls == [2, 12]
    assert not background
