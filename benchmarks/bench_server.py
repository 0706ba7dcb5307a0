"""`muxi serve` on loopback with the fake LLM server.

- concurrent streaming chats (50, 200, 500; quick: 50) held with zero errors;
- p50/p99 time to first event, and what the server adds over LocalRuntime;
- requests per second for a non-streaming turn;
- added latency of a remote turn (RemoteRuntime over SSE) over a local one.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import Result, percentile

_FORMATION = """
agents:
  - name: assistant
    memory:
      enabled: false
"""


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def _stream_turn(client: Any, key: str, message: str) -> tuple[float, float, bool]:
    """One SSE turn: (seconds to first event, seconds in all, completed?)."""
    start = time.perf_counter()
    first = 0.0
    done = False
    async with client.stream(
        "POST",
        "/v1/chat",
        json={"message": message},
        headers={"authorization": f"Bearer {key}", "accept": "text/event-stream"},
    ) as resp:
        if resp.status_code != 200:
            await resp.aread()
            return 0.0, time.perf_counter() - start, False
        async for line in resp.aiter_lines():
            if not line.startswith("data: "):
                continue
            if not first:
                first = time.perf_counter() - start
            if json.loads(line[6:])["type"] == "run.completed":
                done = True
    return first, time.perf_counter() - start, done


async def _concurrent(url: str, key: str, n: int) -> tuple[int, list[float], float]:
    import httpx

    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        start = time.perf_counter()
        results = await asyncio.gather(
            *(_stream_turn(client, key, f"hello {i}") for i in range(n)), return_exceptions=True
        )
        wall = time.perf_counter() - start
    errors = sum(1 for r in results if isinstance(r, BaseException) or not r[2])
    ttfe = [r[0] for r in results if not isinstance(r, BaseException) and r[2]]
    return errors, ttfe, wall


async def _json_rps(url: str, key: str, total: int, concurrency: int) -> tuple[float, int]:
    import httpx

    sem = asyncio.Semaphore(concurrency)
    errors = 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one(i: int) -> None:
            nonlocal errors
            async with sem:
                r = await client.post(
                    "/v1/chat",
                    json={"message": f"q{i}"},
                    headers={"authorization": f"Bearer {key}"},
                )
                if r.status_code != 200 or r.json().get("status") != "completed":
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(total)))
        return total / (time.perf_counter() - start), errors


async def _turn_times(runtime: Any, turns: int) -> tuple[list[float], list[float]]:
    """(first-event seconds, whole-turn seconds) of sequential turns."""
    from muxi_cli.protocol.records import ChatRequest

    firsts, totals = [], []
    for i in range(turns):
        start = time.perf_counter()
        first = 0.0
        async for _event in (await runtime.chat(ChatRequest(message=f"turn {i}"))).events():
            if not first:
                first = time.perf_counter() - start
        totals.append(time.perf_counter() - start)
        firsts.append(first)
    return firsts, totals


def run(quick: bool) -> list[Result]:
    from muxi_cli.stores.server_keys import KeyStore
    from tests.fakellm import FakeLLM, Slow, Text
    from tests.server.serveproc import ServeProcess

    sizes = [50] if quick else [50, 200, 500]
    turns = 20 if quick else 50
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="muxi-bench-server-") as tmp, FakeLLM() as llm:
        root = Path(tmp)
        home = root / "home"
        # Long-term memory off: its background extraction calls would compete
        # with the turns being measured (that cost belongs to bench_turn/memory).
        config = llm.write_formation(root, extra=_FORMATION)
        _, key = KeyStore(home / "data" / "server_keys.json").create("user", "bench")
        proc = ServeProcess(home, config, args=("--rate", "0")).start()
        try:
            # Streams that last ~0.5 s each, so all of them are open at once.
            llm.set_default(Slow("one two three four five six seven eight nine ten", delay=0.05))
            for n in sizes:
                errors, ttfe, wall = asyncio.run(_concurrent(proc.url, key, n))
                results.append(
                    Result(
                        f"server: {n} concurrent streaming chats",
                        errors,
                        "errors",
                        "0",
                        note=f"all done in {wall:.1f}s",
                    )
                )
                if ttfe:
                    results.append(
                        Result(
                            f"server: time to first event p50 ({n} concurrent)",
                            round(percentile(ttfe, 50) * 1000, 1),
                            "ms",
                        )
                    )
                    results.append(
                        Result(
                            f"server: time to first event p99 ({n} concurrent)",
                            round(percentile(ttfe, 99) * 1000, 1),
                            "ms",
                        )
                    )

            llm.set_default(Text("ok"))
            total = 100 if quick else 300
            rps, errors = asyncio.run(_json_rps(proc.url, key, total, 20))
            results.append(
                Result(
                    "server: non-streaming turns per second",
                    round(rps, 1),
                    "req/s",
                    note=f"{total} turns, 20 at a time, {errors} errors",
                )
            )

            async def remote_times() -> tuple[list[float], list[float]]:
                from muxi_cli.runtime.remote import RemoteRuntime

                rt = RemoteRuntime(proc.url, key, label="bench")
                try:
                    await _turn_times(rt, 3)  # warm up
                    return await _turn_times(rt, turns)
                finally:
                    await rt.aclose()

            r_first, r_total = asyncio.run(remote_times())
        finally:
            proc.stop()

        async def local_times() -> tuple[list[float], list[float]]:
            from muxi_cli.runtime.local import LocalRuntime

            rt = await LocalRuntime.open(config_path=config, start_tools=True)
            try:
                await _turn_times(rt, 3)
                return await _turn_times(rt, turns)
            finally:
                await rt.aclose()

        with _env(MUXI_HOME=str(root / "local-home"), MUXI_NO_OLLAMA_PROBE="1"):
            l_first, l_total = asyncio.run(local_times())

    med = statistics.median
    results += [
        Result(
            "server: time to first event p50, sequential (remote)",
            round(med(r_first) * 1000, 2),
            "ms",
        ),
        Result(
            "server: time to first event p99, sequential (remote)",
            round(percentile(r_first, 99) * 1000, 2),
            "ms",
        ),
        Result(
            "server: first event added over local (p50)",
            round((med(r_first) - med(l_first)) * 1000, 2),
            "ms",
            note=f"local p50 {med(l_first) * 1000:.2f} ms",
        ),
        Result(
            "server: one turn, remote over local (p50)",
            round((med(r_total) - med(l_total)) * 1000, 2),
            "ms",
            note=f"local {med(l_total) * 1000:.1f} ms, remote {med(r_total) * 1000:.1f} ms",
        ),
    ]
    return results
