"""A loopback TCP proxy for tests that lose a message on its way: subclasses open
the upstream connection, pump both directions with their own rules, and hand the
two pumps to :meth:`LoopbackProxy._relay`, which runs them and closes both sides."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Self


class LoopbackProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    @staticmethod
    def _cut(pair: tuple[asyncio.StreamWriter, ...]) -> None:
        """Drop both connections at once (no FIN: the peer sees a reset)."""
        for w in pair:
            w.transport.abort()

    async def _relay(
        self,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        up: Coroutine[Any, Any, None],
        down: Coroutine[Any, Any, None],
    ) -> None:
        """Run the two pumps until one ends, then stop the other and close both sides."""
        pumps = [asyncio.create_task(up), asyncio.create_task(down)]
        self._tasks.update(pumps)
        with contextlib.suppress(OSError):
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        for w in pair:
            w.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            self._server.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
