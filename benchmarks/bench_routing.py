"""What choosing the agent costs per turn.

A formation with three described agents runs in-process (``LocalRuntime``)
against the local fake LLM server (``tests/fakellm.py``), which waits a fixed
``LATENCY`` before every answer, like a fast hosted model. One turn (from
``chat()`` to ``run.completed``) is timed three ways, round-robin:

- explicit: ``ChatRequest(agent=...)``, no routing at all;
- router: the route cache is cleared first, so the router model is asked
  (a forced ``choose_agent`` tool call) before the agent answers;
- cached: the same message again, so the cached decision is used.

The routing overhead is each of the last two minus explicit. A router call
costs at least one model round trip (``LATENCY`` here); what muxi adds on top
of that is reported separately. Long-term memory is off for the agents, so
the figures are the routing path itself.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Result

LATENCY = 0.05  # seconds the fake model waits before each answer
TARGET_AGENT = "coder"
MESSAGE = "my python script raises KeyError when the config file is empty, can you fix it?"
FORMATION_EXTRA = """\
agents:
  - name: writer
    description: Drafts and edits prose, emails and documentation.
    memory: {enabled: false}
  - name: coder
    description: Writes, reviews and debugs code in any language.
    memory: {enabled: false}
  - name: analyst
    description: Answers questions about data, numbers and spreadsheets.
    memory: {enabled: false}
"""


def _is_router_request(request: dict[str, Any]) -> bool:
    """Router requests carry the ``choose_agent`` tool (OpenAI or Anthropic shape)."""
    for tool in request.get("tools") or []:
        name = tool.get("name") or (tool.get("function") or {}).get("name")
        if name == "choose_agent":
            return True
    return False


def _answer(request: dict[str, Any]) -> Any:
    from tests.fakellm import Text, ToolCalls

    if _is_router_request(request):
        return ToolCalls(
            [("choose_agent", {"agent": TARGET_AGENT, "reason": "the message is about code"})]
        )
    return Text("ok")


async def _measure(formation: Path, repeat: int) -> dict[str, list[float]]:
    from muxi_cli.protocol.events import AgentRouted, RunCompleted, RunFailed
    from muxi_cli.protocol.records import ChatRequest
    from muxi_cli.runtime.local import LocalRuntime

    runtime = await LocalRuntime.open(config_path=formation)

    async def turn(request: ChatRequest, method: str) -> float:
        start = time.perf_counter()
        elapsed: float | None = None
        routed: tuple[str, str] | None = None
        async for event in (await runtime.chat(request)).events():
            if isinstance(event, AgentRouted):
                routed = (event.agent, event.method)
            elif isinstance(event, RunFailed):
                raise RuntimeError(f"turn failed: {event.error}")
            elif isinstance(event, RunCompleted) and elapsed is None:
                elapsed = (time.perf_counter() - start) * 1000
                if event.text != "ok":
                    raise RuntimeError(f"unexpected reply {event.text!r}")
        if routed != (TARGET_AGENT, method):
            raise RuntimeError(f"expected {TARGET_AGENT} by {method}, got {routed}")
        if elapsed is None:
            raise RuntimeError("the turn ended without run.completed")
        return elapsed

    samples: dict[str, list[float]] = {"explicit": [], "router": [], "cached": []}
    try:
        for index in range(repeat + 2):  # the first two rounds warm up
            runtime.cache.clear()
            explicit = ChatRequest(message=MESSAGE, agent=TARGET_AGENT)
            timings: dict[str, float] = {}
            if index % 2:  # alternate the order, so no kind always follows the same one
                timings["explicit"] = await turn(explicit, "explicit")
            timings["router"] = await turn(ChatRequest(message=MESSAGE), "llm")
            timings["cached"] = await turn(ChatRequest(message=MESSAGE), "cached")
            if not index % 2:
                timings["explicit"] = await turn(explicit, "explicit")
            if index >= 2:
                for name, ms in timings.items():
                    samples[name].append(ms)
    finally:
        await runtime.aclose()
    return samples


def _status(value: float, limit: float) -> str:
    return "met" if value < limit else "MISSED"


def run(quick: bool) -> list[Result]:
    from tests.fakellm import FakeLLM

    repeat = 10 if quick else 30
    saved = {
        k: os.environ.get(k)
        for k in ("MUXI_HOME", "MUXI_NO_OLLAMA_PROBE", "LANCEDB_LOG", "MUXI_CONFIG")
    }
    with tempfile.TemporaryDirectory(prefix="muxi-bench-routing-") as tmp, FakeLLM() as fake:
        work = Path(tmp)
        fake.latency = LATENCY
        fake.set_default(_answer)
        formation = fake.write_formation(work, extra=FORMATION_EXTRA)
        os.environ.update(
            MUXI_HOME=str(work / "home"), MUXI_NO_OLLAMA_PROBE="1", LANCEDB_LOG="error"
        )
        os.environ.pop("MUXI_CONFIG", None)
        try:
            samples = asyncio.run(_measure(formation, repeat))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        router_calls = sum(1 for r in fake.requests if _is_router_request(r))

    expected_router_calls = repeat + 2
    if router_calls != expected_router_calls:
        raise RuntimeError(
            f"expected {expected_router_calls} router calls, the model saw {router_calls}"
        )
    med = {name: statistics.median(values) for name, values in samples.items()}
    latency_ms = LATENCY * 1000
    note = f"median of {repeat}, model latency {latency_ms:.0f} ms"
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    router_overhead = med["router"] - med["explicit"]
    beyond = router_overhead - latency_ms
    cached = med["cached"] - med["explicit"]
    return [
        Result(
            "routing: turn, explicit agent", round(med["explicit"], 1), "ms", note=f"{note}; {load}"
        ),
        Result("routing: turn, router call", round(med["router"], 1), "ms", note=note),
        Result("routing: turn, cached decision", round(med["cached"], 1), "ms", note=note),
        Result(
            "routing: overhead, router call",
            round(router_overhead, 1),
            "ms",
            target=f"one model round trip ({latency_ms:.0f} ms) + < 10 ms",
            note="router turn minus explicit turn",
        ),
        Result(
            "routing: overhead, router call beyond the model",
            round(beyond, 1),
            "ms",
            target="< 10 ms",
            note=_status(beyond, 10) + "; prompt, SDK call, parse, cache write",
        ),
        Result(
            "routing: overhead, cached decision",
            round(cached, 1),
            "ms",
            target="< 2 ms",
            note=_status(cached, 2) + "; cached turn minus explicit turn",
        ),
    ]
