"""`muxi mcp validate` and `muxi mcp test` against the third-party `mcp-server-time`.

Each figure is the median wall time of a whole `muxi` process (start, connect
to a freshly started server over stdio, run, stop). For scale, the same
server's bare cost is measured too: a Python process that connects with the
MCP SDK client and lists the tools, nothing else.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time

from benchmarks.common import PYTHON, Result

SERVER = [PYTHON, "-m", "mcp_server_time"]
MUXI = [PYTHON, "-m", "muxi_cli", "mcp"]

_BARE = """
import asyncio, sys
from mcp import Client
from mcp.client.stdio import StdioServerParameters

async def main():
    async with Client(StdioServerParameters(command=sys.executable, args=["-m", "mcp_server_time"])) as c:
        await c.list_tools()

asyncio.run(main())
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS",)}
    env["COLUMNS"] = "200"
    return env


def _timed(args: list[str], ok_codes: tuple[int, ...] = (0,)) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=300)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(args[2:5])} exited {done.returncode}: {done.stderr[-500:]}")
    return elapsed, done.stdout


def _median(args: list[str], repeat: int) -> tuple[float, list[str]]:
    samples, outputs = [], []
    for _ in range(repeat):
        elapsed, out = _timed(args)
        samples.append(elapsed)
        outputs.append(out)
    return statistics.median(samples), outputs


def run(quick: bool) -> list[Result]:
    repeat = 3 if quick else 7
    results: list[Result] = []

    bare_ms, _ = _median([PYTHON, "-c", _BARE], repeat)
    results.append(
        Result(
            "mcpdev: bare SDK connect + list (mcp-server-time)",
            round(bare_ms),
            "ms",
            note="baseline",
        )
    )

    validate_ms, outs = _median([*MUXI, "validate", "--json", "--", *SERVER], repeat)
    report = json.loads(outs[-1])
    checks = report["summary"]
    results.append(
        Result(
            "mcpdev: muxi mcp validate (mcp-server-time)",
            round(validate_ms),
            "ms",
            "< 3000 ms",
            f"{sum(checks.values())} checks, 2 tool calls; server start {report['startup_ms']} ms",
        )
    )

    test_ms, outs = _median([*MUXI, "test", "--json", "--", *SERVER], repeat)
    items = json.loads(outs[-1])["items"]
    results.append(
        Result(
            "mcpdev: muxi mcp test (mcp-server-time)",
            round(test_ms),
            "ms",
            "< 3000 ms",
            f"{len(items)} calls (valid + invalid arguments)",
        )
    )
    per_call = statistics.median(i["duration_ms"] for i in items)
    results.append(Result("mcpdev: median call inside muxi mcp test", round(per_call, 1), "ms"))
    results.extend(_in_process(repeat))
    return results


def _in_process(repeat: int) -> list[Result]:
    """The same two runs inside one warm process (no interpreter start, SDK imported)."""
    import asyncio

    from muxi_cli.mcpdev.target import parse_target
    from muxi_cli.mcpdev.testing import run_tests
    from muxi_cli.mcpdev.validate import validate

    target = parse_target(SERVER)
    asyncio.run(validate(target))  # warm-up: imports
    out = []
    for label, make in (
        ("validate", lambda: validate(target)),
        ("test", lambda: run_tests(target)),
    ):
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            asyncio.run(make())
            samples.append((time.perf_counter() - started) * 1000)
        out.append(
            Result(
                f"mcpdev: {label} in a warm process (mcp-server-time)",
                round(statistics.median(samples)),
                "ms",
                note="server start included",
            )
        )
    return out
