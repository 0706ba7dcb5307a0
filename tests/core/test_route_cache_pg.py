"""The route cache in PostgreSQL: a decision one replica made is a hit on another."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from muxi_cli.core.route_cache_pg import PgRouteCache, route_cache
from muxi_cli.core.router import RouteCache
from muxi_cli.stores import pgconn
from muxi_cli.stores.pg_control import PgLink


def test_replicas_share_decisions(pg_url: str) -> None:
    a, b = PgRouteCache(60, 100, PgLink(pg_url)), PgRouteCache(60, 100, PgLink(pg_url))
    try:
        key = RouteCache.key("refund my order", None, "fp1")
        assert b.get(key) is None
        a.put(key, "support", "refunds")
        assert b.get(key) == ("support", "refunds") and (b.hits, b.misses) == (1, 1)
        a.put(key, "billing", "money")  # a newer decision replaces the row
        assert PgRouteCache(60, 100, b.link).get(key) == ("billing", "money")
        b.clear()
        assert a.link.execute("SELECT count(*) FROM route_cache") == [(0,)]
    finally:
        a.close()
        b.close()


def test_expired_and_surplus_rows_go(pg_url: str) -> None:
    cache = PgRouteCache(60, 3, PgLink(pg_url))
    try:
        for i in range(5):
            cache.put(f"k{i}", "a", "r")
        rows = cache.link.execute("SELECT key FROM route_cache ORDER BY key")
        assert [r[0] for r in rows] == ["k2", "k3", "k4"]
        cache.link.execute("UPDATE route_cache SET at = %s WHERE key = 'k4'", (time.time() - 120,))
        fresh = PgRouteCache(60, 3, cache.link)
        assert fresh.get("k4") is None and fresh.get("k3") == ("a", "r")
        assert cache.link.execute("SELECT count(*) FROM route_cache WHERE key = 'k4'") == [(0,)]
    finally:
        cache.close()


def test_an_unreachable_database_is_a_miss(caplog: pytest.LogCaptureFixture) -> None:
    cache = PgRouteCache(60, 3, PgLink("postgresql://u@127.0.0.1:9/none"))
    cache.put("k", "a", "r")  # logged, not raised
    assert cache.get("other") is None and "route cache" in caplog.text


def test_the_url_chooses_the_cache(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(pgconn.URL_ENV, raising=False)
    assert type(route_cache(60, 3, tmp_path / "r.db")) is RouteCache
    monkeypatch.setenv(pgconn.URL_ENV, pg_url)
    assert isinstance(route_cache(60, 3, tmp_path / "r.db"), PgRouteCache)
