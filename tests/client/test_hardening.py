"""Faults found by attacking the Python client, each held by one test against a
real ``muxi serve`` (tests/client/conftest.py)."""

from __future__ import annotations

import asyncio

from muxi_cli.client import AsyncClient
from tests.client.conftest import Served
from tests.fakellm import Slow


async def test_result_returns_when_the_reading_task_is_cancelled(
    client: AsyncClient, served: Served
) -> None:
    """result() in one task waits for another task's reader; a reader cancelled
    mid-turn (a timeout, a Ctrl-C in a notebook) must not leave it waiting forever."""
    served.llm.script(Slow("one two three four five six", delay=0.3))
    turn = await client.chat("hi")
    first = asyncio.Event()

    async def read() -> None:
        async for _event in turn:
            first.set()

    reader = asyncio.create_task(read())
    await first.wait()
    waiter = asyncio.create_task(turn.result())
    await asyncio.sleep(0)  # the waiter is now waiting for the reader
    reader.cancel()
    result = await asyncio.wait_for(waiter, 20)
    assert result.run_id == turn.run_id
    await turn.aclose()
