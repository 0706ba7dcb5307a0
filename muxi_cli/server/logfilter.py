"""A logging filter that lets the same failure through once per interval.

A server under attack (or out of file descriptors) can fail the same way
thousands of times a second; logging each one fills the disk. The filter keys
a record by its logger, message template and exception type, passes the first
one, drops repeats for ``interval`` seconds, and then says how many it dropped.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import OrderedDict

from muxi_cli.redact import RedactingFormatter

#: How many distinct failures are remembered (the oldest are forgotten first).
MAX_KEYS = 512


class RateLimitFilter(logging.Filter):
    def __init__(self, interval: float = 60.0, clock: object = None) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock if callable(clock) else time.monotonic
        # key -> (time it was last let through, repeats dropped since)
        self._seen: OrderedDict[tuple[str, str, str], tuple[float, int]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        key = (record.name, str(record.msg), exc)
        now = float(self._clock())
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.interval:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            record.msg = f"{record.msg} [{last[1]} more like this in the last {self.interval:g} s]"
        self._seen[key] = (now, 0)
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_KEYS:
            self._seen.popitem(last=False)
        return True


def install(interval: float = 60.0, *, process_wide: bool = False) -> RateLimitFilter:
    """Send the server's log through one rate-limited, redacting stderr handler
    (idempotent: the only handler of ``muxi.server``, however often a process serves).

    ``process_wide`` (the ``muxi serve`` process) also takes over asyncio's
    logger, whose accept-loop errors repeat when file descriptors run out.
    """

    server = logging.getLogger("muxi.server")
    handler = next((h for h in server.handlers if getattr(h, "muxi_rate_limited", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.muxi_rate_limited = True  # type: ignore[attr-defined]
        handler.setFormatter(RedactingFormatter())  # log lines quote provider and MCP text
        handler.addFilter(RateLimitFilter(interval))
        server.addHandler(handler)
    flt = next(f for f in handler.filters if isinstance(f, RateLimitFilter))
    names = ["uvicorn", "uvicorn.error"]
    for name in names:
        for h in logging.getLogger(name).handlers:
            if flt not in h.filters:
                h.addFilter(flt)
    if process_wide:
        aio = logging.getLogger("asyncio")
        if handler not in aio.handlers:
            aio.addHandler(handler)
            aio.propagate = False
    return flt
