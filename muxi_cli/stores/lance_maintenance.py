"""Keeping a long-lived LanceDB store small and fresh without slowing the writes.

Every LanceDB write commits a new table version. Left alone, the fragments,
deletion files and version manifests of single-row writes pile up, and with
them the time of every read and the metadata LanceDB caches. So:

- :class:`Maintenance` runs ``optimize()`` (compaction, index refresh, cleanup
  of old versions) in the background after every ``every`` writes: one run at
  a time, never awaited by the write that triggered it;
- :func:`with_retry` retries a write that lost a commit race (a background
  compaction or another process committed first), a bounded number of times;
- :func:`session` bounds LanceDB's index and metadata caches, which otherwise
  keep an entry for every version a long-lived process has seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from muxi_cli.stores import lance_import

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Upper bounds of LanceDB's caches for one open store (see :func:`session`).
INDEX_CACHE_BYTES = 64 * 1024 * 1024
METADATA_CACHE_BYTES = 16 * 1024 * 1024
#: How often a write that lost a commit race is tried again.
COMMIT_ATTEMPTS = 4


def session() -> Any:
    """A LanceDB session with bounded caches (the defaults grow to gigabytes)."""
    return lance_import.lancedb().Session(
        index_cache_size_bytes=INDEX_CACHE_BYTES,
        metadata_cache_size_bytes=METADATA_CACHE_BYTES,
    )


def is_commit_conflict(exc: BaseException) -> bool:
    # LanceDB reports lost commit races as plain errors whose text says so.
    text = str(exc).lower()
    return "commit conflict" in text or "preempted by concurrent" in text


async def with_retry(write: Callable[[], Awaitable[T]]) -> T:
    """Run ``write``; when another writer committed first, run it again on the new version.

    A write whose commit failed changed nothing, so trying again is safe.
    """
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            return await write()
        except Exception as exc:
            if attempt == COMMIT_ATTEMPTS - 1 or not is_commit_conflict(exc):
                raise
            await asyncio.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


class Maintenance:
    """Run ``job`` in the background after every ``every`` writes, one run at a time."""

    def __init__(self, job: Callable[[], Awaitable[Any]], every: int) -> None:
        self.job = job
        self.every = every
        self.runs = 0
        self.failures = 0
        self._writes = 0
        self._task: asyncio.Task[None] | None = None
        #: A run :meth:`later` scheduled that has not started yet.
        self._pending: asyncio.Task[None] | None = None

    def wrote(self, count: int) -> None:
        if not self.every:
            return
        self._writes += count
        if self._writes < self.every or self.running:
            # While a run is busy the count keeps growing: the next write after it starts one.
            return
        self._writes = 0
        self._task = asyncio.get_running_loop().create_task(self._run())

    def later(self, delay: float) -> None:
        """Run the job once after ``delay`` seconds, unless the store closes first.

        For work other processes left behind (rows their few writes never got
        indexed): a long-lived process catches up soon after it opens the store,
        and a one-shot command, which closes within the delay, never pays for it.
        """
        if self.running or (self._pending is not None and not self._pending.done()):
            return

        async def run() -> None:
            await asyncio.sleep(delay)
            if not self.running:
                self._task = asyncio.get_running_loop().create_task(self._run())

        self._pending = asyncio.get_running_loop().create_task(run())

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        try:
            await self.job()
            self.runs += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Maintenance never fails a write; `muxi memory optimize` reports errors.
            self.failures += 1
            log.debug("memory store maintenance failed (tried again later): %s", exc)

    async def wait(self) -> None:
        """Wait for the run in progress or scheduled, if any (tests, benchmarks, shutdown)."""
        if self._pending is not None:
            await asyncio.shield(self._pending)
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self, timeout: float = 10.0) -> None:
        """Let a run in progress finish (bounded), then cancel it; a run not started
        yet is dropped."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()
        task, self._task = self._task, None
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
