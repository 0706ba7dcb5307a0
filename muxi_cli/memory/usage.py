"""Recall counters (``use_count``, ``last_used_at``) written off the turn's path.

Each recall used to update the recalled rows before the turn could go on: one
LanceDB write, one new table version and one new fragment per turn, and a turn
that waited whenever that write queued behind compaction. :class:`UsageCounter`
collects the counts instead and writes them from one background task, several
recalls of the same rows in one update.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from muxi_cli.stores.lance_records import MemoryRecords

log = logging.getLogger(__name__)


class UsageCounter:
    """Coalesce recall counts per user and write them in the background."""

    def __init__(self, records: Callable[[], Awaitable[MemoryRecords]]) -> None:
        self._records = records
        self._pending: dict[str, Counter[str]] = {}
        self._task: asyncio.Task[None] | None = None

    def note(self, used: dict[str, list[str]]) -> None:
        """Count one recall of each id (``{owner user id: [memory ids]}``)."""
        for owner, ids in used.items():
            self._pending.setdefault(owner, Counter()).update(ids)
        if self._pending and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        # One task at a time; counts noted while it writes go into the next loop.
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                records = await self._records()
                for owner, counts in batch.items():
                    by_times: dict[int, list[str]] = {}
                    for memory_id, times in counts.items():
                        by_times.setdefault(times, []).append(memory_id)
                    for times, ids in by_times.items():
                        await records.touch(owner, ids, times=times)
            except Exception as exc:  # usage counters are best effort
                log.debug("could not record memory use: %s", exc)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until the counts noted so far are written."""
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                log.debug("memory use counters still being written after %.0f s", timeout)
