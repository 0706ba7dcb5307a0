"""A running turn's events, numbered, for every stream that follows it.

The server pumps each turn's events onto its :class:`Tape` (server/runs.py):
the tape numbers them from 1 (the SSE ``id``), keeps them in memory while the
turn runs and records them in the :class:`~muxi_cli.stores.run_events.EventLog`.
Streams (the SSE response that started the turn, a WebSocket, a client
resuming with ``GET /v1/runs/{id}/events``) follow the tape from any number,
so a client that reconnects to this process misses nothing and sees nothing
twice. :func:`follow_log` follows a run this process does not hold (it ended,
or another replica runs it) from the log itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli import paths
from muxi_cli.errors import ConnectionFailedError
from muxi_cli.protocol.turn import is_terminal
from muxi_cli.runtime.turns import failure_event

if TYPE_CHECKING:
    from muxi_cli.protocol.events import Event
    from muxi_cli.stores.run_events import EventLog

#: Seconds between two reads of the log while following a run held elsewhere.
POLL = 0.1
#: Seconds between a replica's beats for the runs it holds (server/runs.py), and
#: the silence after which a follower takes a run that is not done as lost.
BEAT = 5.0
STALE = 20.0


class Tape:
    """The events of one turn: ``(seq, event, its JSON)``, seq from 1."""

    def __init__(self, run_id: str, log: EventLog | None = None) -> None:
        self.run_id = run_id
        self.log = log
        self.events: list[tuple[Event, str]] = []
        #: The turn's closing event is on the tape.
        self.ended = False
        #: The turn's stream is over (its closing event is on the tape, if it had one).
        self.done = False
        self._wake = asyncio.Event()

    @property
    def last(self) -> int:
        return len(self.events)

    def append(self, event: Event) -> int:
        data = event.to_json()
        self.events.append((event, data))
        seq = len(self.events)
        terminal = is_terminal(event)
        self.ended = self.ended or terminal
        if self.log is not None:
            self.log.append(self.run_id, seq, data, terminal)
        self._notify()
        return seq

    def close(self) -> None:
        """The turn's stream ended: followers stop once they have read everything."""
        self.done = True
        self._notify()

    def _notify(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    async def follow(self, after: int = 0) -> AsyncIterator[tuple[int, Event, str]]:
        """Every event numbered above ``after``, then each new one, until the end."""
        seq = max(0, after)
        while True:
            while seq < len(self.events):
                event, data = self.events[seq]
                seq += 1
                yield seq, event, data
            if self.done:
                return
            await self._wake.wait()


async def follow_log(
    log: EventLog, run_id: str, after: int = 0, poll: float = POLL, stale: float = STALE
) -> AsyncIterator[tuple[int, str]]:
    """The run's recorded events above ``after``, following it until it is done.

    For a run this process does not hold: it ended here (what is left may still
    be on its way to the database), or another replica sharing the database
    runs it. Ends when the run is done and everything is read, or when the log
    does not know the run.
    """
    seq = max(0, after)
    while True:
        rows = await log.read(run_id, seq)
        for seq, data in rows:
            yield seq, data
        if rows:
            continue
        info = await log.run(run_id)
        if info is None:
            return
        if info.done:
            rows = await log.read(run_id, seq)  # written in the same commit as done
            for seq, data in rows:
                yield seq, data
            if not rows:
                return
            continue
        if info.silent_for > stale:
            yield seq + 1, _lost(run_id, info.session_id, info.silent_for).to_json()
            return
        await asyncio.sleep(poll)


def _lost(run_id: str, session_id: str, silent: float) -> Event:
    lost = ConnectionFailedError(
        f"the server running this turn stopped ({silent:.0f} s without a sign of it)",
        hint="what was said so far is saved; send the message again",
    )
    return failure_event(run_id, session_id, lost)


def event_log_for(runtime: Any) -> EventLog:
    """The event log in the runtime's sessions database (else the data folder's)."""
    from muxi_cli.stores.run_events import SQLiteEventLog  # deferred: only servers record

    store = getattr(runtime, "store", None)
    database = getattr(store, "database", None)  # a PostgreSQL URL when replicas share one
    if isinstance(database, str):
        return SQLiteEventLog(database)
    path = getattr(store, "path", None)
    return SQLiteEventLog(path if isinstance(path, Path) else paths.sessions_db_path())
