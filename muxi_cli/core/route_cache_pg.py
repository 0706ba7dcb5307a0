"""The route cache in the shared PostgreSQL database, for replicas of ``muxi serve``.

The same cache as :class:`~muxi_cli.core.router.RouteCache` (bounded, TTL'd,
keyed by the agent set's fingerprint): each process keeps its in-memory part,
and the ``route_cache`` table replaces the SQLite file, so a message routed by
one replica is a hit on the others. A database that does not answer costs a
warning and a routing decision, never a turn.
"""

from __future__ import annotations

import logging
from pathlib import Path

from muxi_cli.core.route_cache import Entry, RouteCache
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

    def _load(self, key: str) -> Entry | None:
        rows = self._sql("SELECT at, agent, reason FROM route_cache WHERE key = %s", (key,))
        if not rows:
            return None
        at, agent, reason = rows[0]
        return (float(at), str(agent), str(reason))  # type: ignore[arg-type]

    def _save(self, key: str, entry: Entry) -> None:
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

    def _forget(self, key: str) -> None:
        self._sql("DELETE FROM route_cache WHERE key = %s", (key,))

    def _evicted(self, key: str) -> None:
        """Another replica may still use it: the table is bounded by :meth:`_save`."""

    def _forget_all(self) -> None:
        self._sql("DELETE FROM route_cache")

    def close(self) -> None:
        self.link.close()
