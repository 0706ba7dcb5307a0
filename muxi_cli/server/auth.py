"""Authentication glue of ``muxi serve`` around the key file.

The keys themselves (records, hashing, the file) live in
:mod:`muxi_cli.stores.server_keys`; JWT bearer tokens in :mod:`jwt_auth`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from muxi_cli.errors import MuxiError

#: What a caller is told when its key is revoked under a running connection or turn.
REVOKED_MESSAGE = "the API key was revoked"
REVOKED_HINT = "ask the server's admin for a new key"


async def until_revoked(key_active: Callable[[], bool], every: float) -> None:
    """Return soon after ``key_active()`` turns false (asked every ``every`` s).

    Used by open WebSockets and running SSE streams, so neither outlives its key.
    An unreadable key file is skipped: the next request reports it.
    """
    while True:
        await asyncio.sleep(every)
        try:
            if not key_active():
                return
        except MuxiError:
            continue
