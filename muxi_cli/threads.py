"""Run blocking code (tools, lookups, probes) in a daemon thread a cancel can leave behind.

Python cannot kill a thread, and ``asyncio.to_thread`` uses the loop's default
executor, whose threads are not daemons: ``asyncio.run`` waits for them when it
shuts down, and so does the interpreter at exit. A sync tool that sleeps for
30 s therefore kept Ctrl-C, ``turn_timeout`` and quitting the chat app waiting
for 30 s. Here each call gets its own daemon thread: a cancel returns at once,
the function is *abandoned* (it runs on until it returns or the process exits,
which never waits for it) and the abandonment is logged.

Why a thread and not a worker process: a process could be killed, but it would
have to re-import the user's module on every call (or keep a pool), could only
pass picklable arguments and results, and would lose the module state tools
share today (caches, clients). Abandoning keeps every tool working as before
and makes stopping immediate; the cost is a leftover thread that may still
finish its work in the background, which the log says.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("muxi.tools")

T = TypeVar("T")

#: The latest abandoned calls (bounded: a long-lived server may cancel many).
_abandoned: deque[str] = deque(maxlen=256)


def abandoned() -> list[str]:
    """Labels of the latest calls whose thread was still running when they were cancelled."""
    return list(_abandoned)


async def run_abandonable(label: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a fresh daemon thread; cancelling abandons it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # cancelled meanwhile: nobody waits for it any more
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = context.run(fn, *args, **kwargs)
        except Exception as exc:
            error = exc
        except BaseException as exc:  # SystemExit & co. must not end the loop's thread
            error = RuntimeError(f"{type(exc).__name__} raised in {label}")
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is closed: the caller is long gone
            pass

    thread = threading.Thread(target=target, name=f"muxi: {label}", daemon=True)
    thread.start()
    try:
        return await future
    except asyncio.CancelledError:
        if thread.is_alive():
            _abandoned.append(label)
            log.warning(
                "%s was still running when its turn was stopped; its thread is abandoned "
                "(it ends when the function returns or muxi exits)",
                label,
            )
        raise
