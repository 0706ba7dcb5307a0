"""Blocking tool code runs in daemon threads a cancel abandons (issue 12, finding 2)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from muxi_cli.threads import abandoned, run_abandonable
from muxi_cli.tools.python_tools import PythonTool
from tests.tools.support import ManagerFactory, by_name, demo


async def test_result_and_exception_come_back() -> None:
    assert await run_abandonable("add", lambda a, b: a + b, 2, 3) == 5

    def boom() -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        await run_abandonable("boom", boom)


async def test_cancel_returns_at_once_and_the_thread_is_abandoned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, release = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []

    def block() -> str:
        threads.append(threading.current_thread())
        started.set()
        release.wait(30)
        return "late"

    task = asyncio.create_task(run_abandonable("blocker", block))
    await asyncio.to_thread(started.wait, 10)
    began = time.monotonic()
    task.cancel()
    with caplog.at_level(logging.WARNING, "muxi.tools"), pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - began < 0.5
    assert threads[0].daemon and threads[0].is_alive()  # never holds up exit
    assert "blocker" in abandoned() and "abandoned" in caplog.text
    release.set()
    threads[0].join(5)


async def test_a_cancelled_sync_python_tool_stops_waiting_at_once() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(seconds: float) -> str:
        """Sleep."""
        started.set()
        release.wait(seconds)
        return "done"

    tool = PythonTool("mod:slow", slow)
    task = asyncio.create_task(tool.call({"seconds": 30}))
    await asyncio.to_thread(started.wait, 10)
    began = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - began < 0.5
    release.set()


async def test_a_cancelled_mcp_call_returns_promptly(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        {"mcp_servers": {"demo": demo()}, "agents": [{"name": "a", "mcp_servers": ["demo"]}]}
    )
    await manager.wait_ready()
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    task = asyncio.create_task(manager.call(tools["demo__sleep"], {"seconds": 60}))
    done, _ = await asyncio.wait({task}, timeout=0.5)
    assert not done  # the server is sleeping on it
    began = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - began < 1.0
