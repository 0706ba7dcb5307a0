"""Rate limits shared by replicas: a key's budget is the same behind one or two replicas."""

from __future__ import annotations

import threading

import httpx
import pytest

from muxi_cli.server.pg_limits import SharedRateLimiter
from muxi_cli.stores.pg_control import PgLink
from tests.server.replicas import Pair


def test_two_replicas_spend_one_bucket(pg_url: str) -> None:
    links = [PgLink(pg_url), PgLink(pg_url)]
    a, b = (SharedRateLimiter(link, "key", 0.5, 3) for link in links)
    other = SharedRateLimiter(links[0], "auth", 0.5, 3)
    try:
        assert [a.take("k1"), b.take("k1"), a.take("k1")] == [0.0, 0.0, 0.0]
        wait = b.take("k1")
        assert 0 < wait <= 2.0 and a.blocked("k1") > 0
        assert a.take("k2") == 0.0 and b.blocked("k2") == 0.0  # keys apart
        assert other.take("k1") == 0.0  # and limiters apart
        assert len(a) == 2 and len(other) == 1
    finally:
        for link in links:
            link.close()


def test_concurrent_takes_never_overspend(pg_url: str) -> None:
    links = [PgLink(pg_url) for _ in range(4)]
    limiters = [SharedRateLimiter(link, "key", 0.001, 10) for link in links]
    granted: list[int] = []

    def spend(limiter: SharedRateLimiter) -> None:
        granted.append(sum(limiter.take("hot") == 0.0 for _ in range(10)))

    threads = [threading.Thread(target=spend, args=(lim,)) for lim in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for link in links:
        link.close()
    assert sum(granted) == 10


def test_a_disabled_limit_asks_nothing() -> None:
    limiter = SharedRateLimiter(PgLink("postgresql://nowhere.invalid/x"), "key", 0, 1)
    assert limiter.take("k") == 0.0 and limiter.blocked("k") == 0.0


@pytest.mark.parametrize("pair", [{"rate": 0.01, "burst": 3}], indirect=True)
async def test_a_key_gets_its_burst_once_across_replicas(pair: Pair) -> None:
    statuses = []
    async with (
        httpx.AsyncClient(base_url=pair.a.url) as ca,
        httpx.AsyncClient(base_url=pair.b.url) as cb,
    ):
        for client in (ca, cb, ca, cb):
            r = await client.get("/v1/me", headers=pair.headers(pair.alice))
            statuses.append(r.status_code)
        assert r.headers["retry-after"]
        # Another key has a budget of its own.
        assert (await cb.get("/v1/me", headers=pair.headers(pair.bob))).status_code == 200
    assert statuses == [200, 200, 200, 429]


def test_counters_do_not_wait_for_the_disk_keys_do(pg_url: str) -> None:
    fast, durable = PgLink(pg_url, durable=False), PgLink(pg_url)
    try:
        sql = "SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'"
        assert fast.execute(sql) == [("off", "client")]
        assert durable.execute(sql)[0][1] != "client"  # the server's own setting
        assert durable.execute("SHOW statement_timeout") == [("5s",)]
    finally:
        fast.close()
        durable.close()
