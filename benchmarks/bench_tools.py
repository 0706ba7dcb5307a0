"""Tool layer: call round trip through muxi vs the bare MCP SDK, and startup.

- Round trip: ``ToolManager.call`` against the demo server's ``echo`` versus
  ``mcp.Client.call_tool`` on the same server, over stdio and streamable HTTP
  (200 calls each after a warm-up, in alternating blocks). Target: muxi within 1.3x.
- Startup: a formation with three MCP servers, one of which sleeps 3 s before
  serving: how long ``start()`` takes to return and the first ``tools_for``
  to answer (both must not wait for the slow server).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from benchmarks.common import ROOT, Result

DEMO = ROOT / "tests" / "mcp_servers" / "demo_server.py"
PY = sys.executable


async def _interleaved(
    calls: dict[str, Callable[[], Awaitable[Any]]], n: int, blocks: int = 10, warmup: int = 20
) -> dict[str, float]:
    """Median per-call ms of each function, measured in alternating blocks.

    Alternating blocks spread machine noise (other processes) evenly over both.
    """
    for call in calls.values():
        for _ in range(warmup):
            await call()
    per_block = max(1, n // blocks)
    medians: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(blocks):
        for name, call in calls.items():
            samples = []
            for _ in range(per_block):
                start = time.perf_counter()
                await call()
                samples.append((time.perf_counter() - start) * 1000)
            medians[name].append(statistics.median(samples))
    return {name: statistics.median(values) for name, values in medians.items()}


def _formation(servers: dict[str, dict[str, Any]]) -> Any:
    from muxi_cli.config.schema import Formation

    return Formation.model_validate(
        {
            "mcp_servers": servers,
            "agents": [{"name": "bench", "mcp_servers": list(servers), "tools": ["calculator"]}],
        }
    )


async def _compare(server: dict[str, Any], bare_target: Any, n: int) -> dict[str, float]:
    """muxi's ToolManager.call vs a bare mcp.Client on equivalent connections."""
    from mcp import Client

    from muxi_cli.tools.host import ToolManager

    manager = ToolManager(_formation({"demo": server}), base_dir=ROOT)
    args = {"text": "hello"}
    try:
        await manager.start()
        await manager.wait_ready()
        tool = await manager.server_tool("demo", "echo")
        async with Client(bare_target) as client:

            async def via_muxi() -> None:
                outcome = await manager.call(tool, args)
                assert outcome.ok, outcome.content

            async def bare() -> None:
                result = await client.call_tool("echo", args)
                assert not result.is_error

            return await _interleaved({"muxi": via_muxi, "bare": bare}, n)
    finally:
        await manager.aclose()


@contextlib.asynccontextmanager
async def _http_demo() -> AsyncIterator[str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        PY,
        str(DEMO),
        "--http",
        "--port",
        str(port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.returncode is not None:
                    raise RuntimeError("the HTTP demo server did not start") from None
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:  # stopped whatever happened, and never waited on forever
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _round_trips(n: int) -> list[Result]:
    from mcp.client.stdio import StdioServerParameters, stdio_client

    results = []
    with tempfile.TemporaryFile("w+") as errlog:
        bare_target = stdio_client(
            StdioServerParameters(command=PY, args=[str(DEMO)]), errlog=errlog
        )
        stdio = await _compare({"command": PY, "args": [str(DEMO)]}, bare_target, n)
    results += _pair("stdio", stdio["muxi"], stdio["bare"], n)
    async with _http_demo() as url:
        http = await _compare({"url": url}, url, n)
    results += _pair("http", http["muxi"], http["bare"], n)
    return results


def _pair(transport: str, muxi_ms: float, bare_ms: float, n: int) -> list[Result]:
    ratio = muxi_ms / bare_ms if bare_ms else float("nan")
    return [
        Result(
            f"tools: call round trip via muxi ({transport})",
            round(muxi_ms, 3),
            "ms",
            note=f"median of {n} calls, alternating blocks",
        ),
        Result(
            f"tools: call round trip, bare SDK ({transport})",
            round(bare_ms, 3),
            "ms",
            note=f"median of {n} calls, alternating blocks",
        ),
        Result(f"tools: muxi / bare SDK ({transport})", round(ratio, 2), "x", target="<= 1.3"),
    ]


async def _startup() -> list[Result]:
    from muxi_cli.tools.host import ToolManager

    servers = {
        "one": {"command": PY, "args": [str(DEMO), "--name", "one"]},
        "two": {"command": PY, "args": [str(DEMO), "--name", "two"]},
        "slow": {"command": PY, "args": [str(DEMO), "--name", "slow", "--delay-start", "3"]},
    }
    formation = _formation(servers)
    manager = ToolManager(formation, base_dir=ROOT)
    try:
        t0 = time.perf_counter()
        await manager.start()
        start_ms = (time.perf_counter() - t0) * 1000
        tools = await manager.tools_for(formation.agents[0])
        first_ms = (time.perf_counter() - t0) * 1000
        offered = len(tools)
        deadline = time.monotonic() + 60
        fast_ms = float("nan")
        while time.monotonic() < deadline:
            names = {t.name for t in await manager.tools_for(formation.agents[0])}
            if {"one__echo", "two__echo"} <= names:
                fast_ms = (time.perf_counter() - t0) * 1000
                slow_offered = "slow__echo" in names
                break
            await asyncio.sleep(0.01)
        await manager.wait_ready()
        all_ms = (time.perf_counter() - t0) * 1000
        slow = next(st for st in manager.statuses() if st.name == "slow")
    finally:
        await manager.aclose()
    return [
        Result(
            "tools: start() with 3 servers (1 slow) returns",
            round(start_ms, 2),
            "ms",
            target="< 50",
        ),
        Result(
            "tools: first tools_for answers",
            round(first_ms, 2),
            "ms",
            target="< 100 (no wait for the slow server)",
            note=f"{offered} tool(s) offered at once",
        ),
        Result(
            "tools: the 2 fast servers' tools offered",
            round(fast_ms),
            "ms",
            note="slow server's tools offered too"
            if slow_offered
            else "slow server still starting",
        ),
        Result(
            "tools: every server settled",
            round(all_ms),
            "ms",
            note=f"slow server (sleeps 3 s first): {slow.state}",
        ),
    ]


def run(quick: bool) -> list[Result]:
    n = 50 if quick else 200
    import logging

    logging.getLogger("mcp").setLevel(logging.CRITICAL)
    results = asyncio.run(_round_trips(n))
    results += asyncio.run(_startup())
    return results


if __name__ == "__main__":  # pragma: no cover
    for result in run("--quick" in sys.argv):
        print(result)
