"""The one tap on every event of every turn this process runs.

Run records, metrics and traces (issue 20) read what happened in a turn from
here, so they always agree: every event a :class:`~muxi_cli.runtime.turns.TaskTurn`
puts in its stream, in order, including a delegate's nested events and the
``run.failed`` a cancel or a crash produces. Observers are called on the event
loop, synchronously: they must be quick and never block (hand heavy work to a
thread or a queue). One that raises is logged and the turn goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from muxi_cli.protocol.events import Event

log = logging.getLogger("muxi.runtime")

Observer = Callable[[Event], None]


class EventTap:
    """Fans each event out to the observers added to it."""

    def __init__(self) -> None:
        self._observers: list[Observer] = []

    def add(self, observer: Observer) -> Callable[[], None]:
        """Start calling ``observer`` with every event; returns what stops it."""
        self._observers.append(observer)

        def remove() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return remove

    def __bool__(self) -> bool:
        return bool(self._observers)

    def __call__(self, event: Event) -> None:
        for observer in tuple(self._observers):
            try:
                observer(event)
            except Exception:
                log.exception("an event observer failed on %s", event.type)
