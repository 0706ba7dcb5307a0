"""Rate limits shared by the replicas of ``muxi serve``: token buckets in PostgreSQL.

Behind a load balancer, N replicas each with its own buckets would let a key
send N times its rate. With a shared database every take is one atomic
``INSERT ... ON CONFLICT DO UPDATE`` on the key's row of ``rate_buckets``: the
refill, the take and whether it succeeded are computed by the database, on the
database's clock (replicas' clocks may differ), so two replicas taking at once
cannot both spend the last token.

A bucket that would be full again is the same as no bucket, so rows idle that
long are deleted now and then (``full_at``); the table stays as small as the
set of recently active keys and addresses.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from muxi_cli.stores.pg_control import PgLink

if TYPE_CHECKING:
    from muxi_cli.server.context import ServerContext

log = logging.getLogger("muxi.server")

#: Seconds between two sweeps of full buckets (per limiter, per replica).
PRUNE_EVERY = 60.0

_NOW = "extract(epoch from clock_timestamp())"
_REFILLED = f"least(%(burst)s, b.tokens + ({_NOW} - b.updated) * %(rate)s)"
_TAKE = f"""
INSERT INTO rate_buckets AS b (key, tokens, updated, ok, full_at)
VALUES (%(key)s, %(burst)s - 1, {_NOW}, true, {_NOW} + 1 / %(rate)s)
ON CONFLICT (key) DO UPDATE SET
    ok = {_REFILLED} >= 1,
    tokens = {_REFILLED} - CASE WHEN {_REFILLED} >= 1 THEN 1 ELSE 0 END,
    updated = {_NOW},
    full_at = {_NOW} + (%(burst)s - ({_REFILLED} - CASE WHEN {_REFILLED} >= 1 THEN 1 ELSE 0 END))
        / %(rate)s
RETURNING ok, tokens
"""
_PEEK = f"SELECT {_REFILLED} FROM rate_buckets b WHERE key = %(key)s"


class SharedRateLimiter:
    """:class:`~muxi_cli.server.limits.RateLimiter`'s interface on a shared table.

    ``name`` keeps apart the limiters sharing the table (per key, failed
    authentications per address, uploads per user)."""

    def __init__(self, link: PgLink, name: str, rate: float, burst: int) -> None:
        self.link = link
        self.name = name
        self.rate = rate
        self.burst = max(1, burst)
        self._pruned = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _params(self, key: str) -> dict[str, object]:
        return {"key": f"{self.name}:{key}", "burst": float(self.burst), "rate": self.rate}

    def take(self, key: str) -> float:
        """Take one token; 0 when allowed, else seconds until one is available."""
        if not self.enabled:
            return 0.0
        rows = self.link.execute(_TAKE, self._params(key))
        self._prune()
        ok, tokens = rows[0]
        return 0.0 if ok else (1.0 - float(tokens)) / self.rate

    def blocked(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now), without taking a token."""
        if not self.enabled:
            return 0.0
        rows = self.link.execute(_PEEK, self._params(key))
        if not rows or float(rows[0][0]) >= 1.0:
            return 0.0
        return (1.0 - float(rows[0][0])) / self.rate

    def __len__(self) -> int:
        rows = self.link.execute(
            "SELECT count(*) FROM rate_buckets WHERE key LIKE %s", (f"{self.name}:%",)
        )
        return int(rows[0][0])

    def _prune(self) -> None:
        if time.monotonic() - self._pruned < PRUNE_EVERY:
            return
        self._pruned = time.monotonic()
        try:
            self.link.execute(f"DELETE FROM rate_buckets WHERE full_at < {_NOW}")
        except Exception as exc:
            log.warning("could not sweep rate buckets: %s", exc)


def share_limits(ctx: ServerContext, url: str) -> None:
    """Make ``ctx``'s rate limits count across every replica sharing the database."""
    link = PgLink(url, durable=False)  # a bucket lost in a database crash refills anyway
    s = ctx.settings
    ctx.limiter = SharedRateLimiter(link, "key", s.rate, s.burst)  # type: ignore[assignment]
    ctx.auth_limiter = SharedRateLimiter(  # type: ignore[assignment]
        link, "auth", max(s.auth_fail_rate, 0.01), s.auth_fail_burst
    )
    media = ctx._media
    if media is not None:  # made at startup (serve_runtime); uploads per user
        media.limiter = SharedRateLimiter(  # type: ignore[assignment]
            link, "upload", s.upload_rate / 60.0, s.upload_burst
        )
