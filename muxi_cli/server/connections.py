"""Connection limits of ``muxi serve``: header time, idle time, how many at once.

uvicorn's HTTP/1.1 protocol (h11) closes idle keep-alive connections
(``timeout_keep_alive``) but waits forever for a request's headers and accepts
every connection until the process runs out of file descriptors.
:func:`guarded_protocol` builds a subclass that adds:

- a header deadline: a connection must deliver a complete request head within
  ``header_timeout`` seconds of connecting (or of the first byte of its next
  request); the deadline is absolute, so trickling bytes does not extend it;
- a cap on concurrent connections: at the cap, the connection idle for the
  longest (no request running) is closed to make room; when every connection
  is busy, the newcomer gets a 503 and is closed.

So a flood of idle or half-sent connections cannot lock out real clients.

On a Unix domain socket (a local host), a connection from another OS user is
closed at once, before it can send a byte: its peer credentials are checked
in ``connection_made``, which a WebSocket upgrade goes through as well.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

#: File descriptors kept free of client connections (MCP servers, SQLite, LanceDB).
FD_RESERVE = 256

_BUSY_BODY = b"the server has too many connections; retry in a moment\n"
_BUSY_REPLY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\nretry-after: 1\r\ncontent-length: %d\r\n\r\n" % len(_BUSY_BODY)
) + _BUSY_BODY


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit on open files towards ``wanted``; returns the soft limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows has no such limit
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # pragma: no cover - not allowed: keep the old one
            pass
    return wanted if soft == resource.RLIM_INFINITY else int(soft)


def connection_cap(wanted: int) -> int:
    """``wanted`` concurrent connections, or fewer if the open-file limit cannot fit them."""
    soft = raise_fd_limit(wanted + FD_RESERVE)
    return max(1, min(wanted, soft - FD_RESERVE))


def _same_user(transport: Any, uid: int) -> bool:
    """False for a Unix-socket peer of another uid (or of an uid we cannot learn)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX:
        return True  # TCP: keys and the bind address decide who may connect
    from muxi_cli.server.unixsock import peer_uid  # deferred: only Unix sockets need it

    return peer_uid(sock) == uid


def guarded_protocol(header_timeout: float, max_connections: int) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a header deadline and a connection cap."""
    import h11  # deferred: h11 is slow to import
    from uvicorn.protocols.http.h11_impl import H11Protocol  # deferred: uvicorn is slow to import

    http_conns: dict[GuardedH11, None] = {}  # insertion-ordered: oldest first
    own_uid = os.getuid()

    class GuardedH11(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _seen_cycle: Any = None
        _idle_since: float = 0.0

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if not _same_user(transport, own_uid):
                self.connections.discard(self)
                transport.abort()  # nothing is sent: not even an error to another user
                return
            self._idle_since = time.monotonic()
            if len(self.connections) > max_connections and not self._evict_one():
                self.connections.discard(self)
                transport.write(_BUSY_REPLY)
                transport.close()
                return
            http_conns[self] = None
            self._arm()

        def _busy(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _evict_one(self) -> bool:
            idle = [c for c in http_conns if c is not self and not c._busy()]
            if not idle:
                return False
            victim = min(idle, key=lambda c: c._idle_since)
            victim._close()
            return True

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(header_timeout, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if not self._busy():
                self._close()

        def _close(self) -> None:
            http_conns.pop(self, None)
            self._disarm()
            if not self.transport.is_closing():
                if self.conn.our_state in (h11.IDLE, h11.DONE):
                    self.conn.send(h11.ConnectionClosed())
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.transport.get_protocol() is not self:  # upgraded to a WebSocket
                http_conns.pop(self, None)
                self._disarm()
            elif self.cycle is not self._seen_cycle:  # a request head arrived
                self._seen_cycle = self.cycle
                self._disarm()
            elif not self._busy():  # the first bytes of the next request
                self._arm()

        def on_response_complete(self) -> None:
            self._idle_since = time.monotonic()
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            http_conns.pop(self, None)
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11
