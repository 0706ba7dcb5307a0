"""A shared database that stops answering must not freeze the replica: requests that
need it fail with a 503, everything else (``/health``, streams) goes on."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg

from tests.server.replicas import Pair


async def test_a_stalled_database_fails_the_request_not_the_whole_replica(
    pair: Pair, pg_url: str
) -> None:
    async with httpx.AsyncClient(base_url=pair.a.url, timeout=30) as c:
        assert (await c.get("/v1/me", headers=pair.headers(pair.alice))).status_code == 200
        # Another session holds the keys table: every key lookup waits on it (up to the
        # control statements' timeout), as on a database that hangs.
        with psycopg.connect(pg_url, autocommit=True) as holder, holder.transaction():
            holder.execute("LOCK TABLE muxi_keys IN ACCESS EXCLUSIVE MODE")
            # (The replica runs in this test's event loop: a lookup blocking it stalls
            # the test too, so the time is measured around it all.)
            began = time.monotonic()
            stuck = asyncio.create_task(c.get("/v1/me", headers=pair.headers(pair.alice)))
            await asyncio.sleep(0.3)  # the lookup is waiting on the lock now
            health = await c.get("/health", timeout=2)
            assert health.status_code == 200
            assert time.monotonic() - began < 2.0  # not frozen for the 5 s statement timeout
            assert not stuck.done()
        answer = await asyncio.wait_for(stuck, 20)
        # The lock went before the statement timeout: the lookup finished; and later ones work.
        assert answer.status_code in (200, 503), answer.text
        assert (await c.get("/v1/me", headers=pair.headers(pair.alice))).status_code == 200
