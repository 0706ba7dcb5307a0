"""Request size limit, per-key rate limit and JSON access logs (pure ASGI)."""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ACCESS_LOGGER = "muxi.access"


def error_body(code: str, message: str, hint: str | None = None) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "hint": hint}}).encode()


async def send_json_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    hint: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = error_body(code, message, hint)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True, slots=True)
class PathLimit:
    """A body limit of its own for one path (uploads), with its own error."""

    max_bytes: int
    code: str
    message: str
    hint: str


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` (or their path's
    :class:`PathLimit`) with 413, whether or not a Content-Length announced them."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        paths: Callable[[], dict[str, PathLimit]] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: Made on the first request (a limit may come from a store opened late).
        self._paths_of = paths
        self._paths: dict[str, PathLimit] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._paths is None:
            self._paths = self._paths_of() if self._paths_of is not None else {}
        special = self._paths.get(scope.get("path", ""))
        limit = special.max_bytes if special is not None else self.max_bytes
        if limit <= 0:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    size = -1
                if size < 0 or size > limit:
                    await self._refuse(send, special)
                    return
        seen = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer 413 now; the app sees a disconnect and its answer is dropped.
                    if not started and not refused:
                        refused = True
                        await self._refuse(send, special)
                    return {"type": "http.disconnect"}
            return message

        async def watch_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, watch_send)

    async def _refuse(self, send: Send, special: PathLimit | None) -> None:
        if special is not None:
            await send_json_error(send, 413, special.code, special.message, special.hint)
            return
        await send_json_error(
            send,
            413,
            "payload_too_large",
            f"the request body is larger than {self.max_bytes} bytes",
            "send less data (attachments count too), or raise --max-body on the server",
        )


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key: ``rate`` requests per second, bursts up to ``burst``.

    ``rate <= 0`` disables the limit. At most ``max_keys`` buckets are kept:
    full (idle) buckets are dropped first, then the oldest, so a flood of new
    keys (client addresses) cannot grow memory without bound.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.max_keys = max(16, max_keys)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        idle = self.burst / self.rate
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < idle}
        # Still too many: drop the oldest (dicts keep insertion order) down to 90%,
        # so the next prune is 10% of max_keys new keys away (amortised O(1)).
        excess = len(self._buckets) - int(self.max_keys * 0.9)
        for key in list(self._buckets)[: max(0, excess)]:
            del self._buckets[key]

    def _refill(self, key: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(
                float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate
            )
            bucket.updated = now
        return bucket

    def blocked(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now), without taking a token."""
        if not self.enabled:
            return 0.0
        bucket = self._refill(key, self._clock())
        if bucket is None or bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def take(self, key: str) -> float:
        """Take one token; returns 0 when allowed, else seconds until one is available."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        bucket = self._refill(key, now)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


def client_bucket(host: str | None) -> str:
    """The throttling key of a client address: IPv6 clients by their /64 network
    (one machine usually holds a whole /64), IPv4 by address."""

    try:
        addr = ipaddress.ip_address(host or "")
    except ValueError:
        return f"ip:{host}"
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return f"ip:{addr.ipv4_mapped}"
        return "ip:" + str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return f"ip:{addr}"


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))


def access_logger() -> logging.Logger:
    """The JSON access logger (one object per line on stderr)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


class AccessLogMiddleware:
    """One JSON line per request: method, path, status, duration, key id, user.

    The query string and headers are never logged (they may carry secrets).
    """

    def __init__(self, app: ASGIApp, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or access_logger()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        sent = 0

        async def watch(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            elif message["type"] == "websocket.accept":
                status = 101
            elif message["type"] == "websocket.close" and not status:
                status = 403
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except BaseException:
            status = status or 500
            raise
        finally:
            state = scope.get("state") or {}
            client = scope.get("client")
            record = {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "kind": scope["type"],
                "method": scope.get("method", "GET"),
                "path": scope.get("path", ""),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "bytes": sent,
                "key_id": state.get("key_id"),
                "user": state.get("user_id"),
                "client": client[0] if client else None,
            }
            if state.get("run_id"):
                record["run_id"] = state["run_id"]
            # Load balancers poll /health and /ready all the time: log only when they fail.
            if record["path"] not in ("/health", "/ready") or status != 200:
                self.logger.info(json.dumps(record, separators=(",", ":")))


class UploadGate:
    """How many uploads are received at once: ``max_total`` server-wide (each
    may hold a whole file in memory) and ``per_user`` per user.

    :meth:`enter` returns False when there is no room; :meth:`leave` gives the
    place back. Synchronous and lock-free: the event loop runs one at a time.
    """

    def __init__(self, max_total: int, per_user: int = 2) -> None:
        self.max_total = max(1, max_total)
        self.per_user = max(1, per_user)
        self._by_user: dict[str, int] = {}
        self.active = 0

    def enter(self, user: str) -> str | None:
        """None when the upload may start, else why not ("server" or "user")."""
        if self.active >= self.max_total:
            return "server"
        if self._by_user.get(user, 0) >= self.per_user:
            return "user"
        self.active += 1
        self._by_user[user] = self._by_user.get(user, 0) + 1
        return None

    def leave(self, user: str) -> None:
        self.active -= 1
        left = self._by_user.get(user, 1) - 1
        if left > 0:
            self._by_user[user] = left
        else:
            self._by_user.pop(user, None)
