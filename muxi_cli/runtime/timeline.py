"""``Runtime.timeline`` of the local runtime: a session's turns from the run records.

The runs are read with a connection of their own in a thread (never on the
event loop), after the run writer has written what this process recorded, so
a turn that just ended is in the answer. The rows: protocol/timeline.py; the
query: stores/run_timeline.py.
"""

from __future__ import annotations

import asyncio

from muxi_cli.protocol.timeline import TimelineTurn
from muxi_cli.runtime.recorder import RunLog
from muxi_cli.stores.run_timeline import query_timeline
from muxi_cli.stores.runs import connect


async def session_timeline(log: RunLog, session_id: str) -> list[TimelineTurn]:
    """The recorded turns of ``session_id`` (a full id, already checked)."""
    return await asyncio.to_thread(_read, log, session_id)


def _read(log: RunLog, session_id: str) -> list[TimelineTurn]:
    log.writer.flush()
    conn = connect(log.path)
    try:
        return query_timeline(conn, session_id)
    finally:
        conn.close()
