"""HTTP over a Unix domain socket (a local host), without building a TLS context."""

from __future__ import annotations

from pathlib import Path

import httpcore
import httpx


class UnixTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose connections go to the Unix socket at ``path``.

    ``httpx.AsyncHTTPTransport(uds=...)`` builds an SSL context up front (it
    loads the CA bundle: 10-20 ms per process) that a local socket never uses;
    this one leaves the pool's context unset, so none is made.
    """

    def __init__(self, path: Path, limits: httpx.Limits) -> None:
        # Not super().__init__: that is what builds the SSL context. The pool is
        # all the base class keeps; its request handling is reused unchanged.
        self._pool = httpcore.AsyncConnectionPool(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            uds=str(path),
        )
