"""1, 2 and 3 `muxi serve` replicas behind HAProxy on loopback (tests/cluster/rig.py).

For each count: streaming turns per second with a fixed number of clients at
once, and the p50/p99 time to first event, through the balancer; plus one
replica without the balancer, for what HAProxy adds. The replicas share one
data folder (SQLite sessions) and the fake LLM server answers every turn.

On a 2-core machine this shows the **overhead** of more processes (each
replica, HAProxy, the fake model and the clients compete for the same two
cores), not scaling: more replicas pay off when each has cores of its own.

``MUXI_BENCH_DATABASE_URL`` (a ``postgresql://`` URL) adds one run of a single
replica on that database, for the latency PostgreSQL adds per turn over SQLite
(once muxi keeps its stores there: issue 21).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Result, percentile

_FORMATION = """
agents:
  - name: assistant
    memory:
      enabled: false
"""


async def _turn(client: Any, key: str, message: str) -> tuple[float, bool]:
    """One streaming turn: (seconds to first event, completed?)."""
    start = time.perf_counter()
    first = 0.0
    async with client.stream(
        "POST", "/v1/chat", json={"message": message, "approval": "deny"},
        headers={"authorization": f"Bearer {key}", "accept": "text/event-stream"},
    ) as resp:  # fmt: skip
        if resp.status_code != 200:
            await resp.aread()
            return 0.0, False
        async for line in resp.aiter_lines():
            if not line.startswith("data:"):
                continue
            if not first:
                first = time.perf_counter() - start
            if json.loads(line[5:])["type"] == "run.completed":
                return first, True
    return first, False


async def _load(url: str, key: str, total: int, clients: int) -> tuple[float, list[float], int]:
    """``total`` turns, ``clients`` at a time: (turns/s, first-event seconds, errors)."""
    import httpx

    sem = asyncio.Semaphore(clients)
    firsts: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients + 5, max_keepalive_connections=clients + 5)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one(i: int) -> None:
            nonlocal errors
            async with sem:
                try:
                    first, ok = await _turn(client, key, f"turn {i}")
                except httpx.HTTPError:
                    first, ok = 0.0, False
            if ok:
                firsts.append(first)
            else:
                errors += 1

        await asyncio.gather(*(one(i) for i in range(clients)))  # warm up
        firsts.clear()
        errors = 0
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(total)))
        wall = time.perf_counter() - start
    return total / wall, firsts, errors


def _measure(label: str, url: str, key: str, total: int, clients: int) -> list[Result]:
    rate, firsts, errors = asyncio.run(_load(url, key, total, clients))
    note = f"{total} turns, {clients} at a time, {errors} errors"
    return [
        Result(f"replicas: {label} turns per second", round(rate, 1), "turns/s", note=note),
        Result(
            f"replicas: {label} first event p50",
            round(percentile(firsts, 50) * 1000, 1),
            "ms",
        ),
        Result(
            f"replicas: {label} first event p99",
            round(percentile(firsts, 99) * 1000, 1),
            "ms",
        ),
    ]


def run(quick: bool) -> list[Result]:
    from tests.cluster.rig import Cluster
    from tests.fakellm import FakeLLM, Slow

    total = 60 if quick else 240
    clients = 20
    results: list[Result] = []
    database_url = os.environ.get("MUXI_BENCH_DATABASE_URL")
    runs: list[tuple[str, int, str | None, bool]] = [
        ("1 replica, no balancer", 1, None, False),
        *((f"{n} behind HAProxy", n, None, True) for n in (1, 2, 3)),
    ]
    if database_url:
        runs.append(("1 behind HAProxy on PostgreSQL", 1, database_url, True))
    with tempfile.TemporaryDirectory(prefix="muxi-bench-replicas-") as tmp, FakeLLM() as llm:
        # A short streamed reply: the turn's own cost, not the model's, dominates.
        llm.set_default(Slow("one two three four five", delay=0.01))
        for index, (label, count, url, balanced) in enumerate(runs):
            root = Path(tmp) / f"run{index}"
            root.mkdir()
            config = llm.write_formation(root, extra=_FORMATION)
            cluster = Cluster(root, config, replicas=count, database_url=url, args=("--rate", "0"))
            key = cluster.create_key("user", "bench")
            with cluster:
                target = cluster.url if balanced else cluster.replicas[0].url
                results += _measure(label, target, key, total, clients)
    return results
