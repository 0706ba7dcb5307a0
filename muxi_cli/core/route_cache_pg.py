"""The route cache in the shared PostgreSQL database, for replicas of ``muxi serve``.

The same cache as :class:`~muxi_cli.core.router.RouteCache` (bounded, TTL'd,
keyed by the agent set's fingerprint): each process keeps its in-memory part,
and the ``route_cache`` table replaces the SQLite file, so a message routed by
one replica is a hit on the others. A database that does not answer costs a
warning and a routing decision, never a turn.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from muxi_cli.core.router import RouteCache
from muxi_cli.stores import pgconn
from muxi_cli.stores.pg_control import PgLink

log = logging.getLogger(__name__)


def route_cache(
    ttl: float, size: int, path: Path | None, database_url: str | None = None
) -> RouteCache:
    """The route cache: in the shared database when a URL is set (``database_url`` or
    ``MUXI_DATABASE_URL``), else backed by the SQLite file at ``path``."""
    url = pgconn.database_url(database_url)
    if url is None:
        return RouteCache(ttl, size, path)
    return PgRouteCache(ttl, size, PgLink(url, durable=False))


class PgRouteCache(RouteCache):
    """A :class:`RouteCache` whose shared part is the ``route_cache`` table."""

    def __init__(self, ttl: float, size: int, link: PgLink) -> None:
        super().__init__(ttl, size, None)
        self.link = link

    def _sql(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]] | None:
        try:
            return self.link.execute(sql, params)
        except Exception as exc:
            log.warning("route cache: %s", str(exc).strip())
            return None

    def get(self, key: str) -> tuple[str, str] | None:
        now = time.time()
        with self._lock:
            hit = self._mem.get(key)
            if hit is None:
                rows = self._sql("SELECT at, agent, reason FROM route_cache WHERE key = %s", (key,))
                if rows:
                    at, agent, reason = rows[0]
                    hit = (float(at), str(agent), str(reason))  # type: ignore[arg-type]
                    self._mem[key] = hit
            if hit is None or now - hit[0] > self.ttl:
                if hit is not None:
                    self._drop(key)
                self.misses += 1
                return None
            self._mem.move_to_end(key)
            self.hits += 1
            return hit[1], hit[2]

    def put(self, key: str, agent: str, reason: str) -> None:
        entry = (time.time(), agent, reason)
        with self._lock:
            self._mem[key] = entry
            self._mem.move_to_end(key)
            while len(self._mem) > self.size:
                self._mem.popitem(last=False)
            self._sql(
                "INSERT INTO route_cache (key, at, agent, reason) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET at = EXCLUDED.at, agent = EXCLUDED.agent, "
                "reason = EXCLUDED.reason",
                (key, *entry),
            )
            # Bounded like the file: the oldest rows beyond ``size`` go (and expired ones).
            self._sql(
                "DELETE FROM route_cache WHERE at < %s OR key IN (SELECT key FROM route_cache "
                "ORDER BY at DESC OFFSET %s)",
                (entry[0] - self.ttl, self.size),
            )

    def _drop_db(self, key: str) -> None:
        self._sql("DELETE FROM route_cache WHERE key = %s", (key,))

    def clear(self) -> None:
        with self._lock:
            self._mem.clear()
            self._sql("DELETE FROM route_cache")

    def close(self) -> None:
        self.link.close()
