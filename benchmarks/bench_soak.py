"""Soak: thousands of sequential turns against `muxi serve` with long-term memory on.

A real ``muxi serve`` on loopback answers sequential non-streaming turns from
one user against the fake LLM server, a new session every ``SESSION_TURNS``
turns. The fake model answers memory extraction requests with one new fact, so
the memory store grows as it would in use (recall, use counters, extraction,
session summaries, background maintenance all run). Every window of turns
prints the server's resident memory and the turn latency; the figures compare
the last window with the second (the first includes warm-up: imports, the
embedding model, the store's creation).

    .venv/bin/python -m benchmarks.run soak            # 2,000 turns
    .venv/bin/python -m benchmarks.run soak --quick    # 400 turns (a smoke run)

The quick run ends while the store is still filling from empty (recall starts
finding memories, use counters start being written), so its latency rises;
quote the full run, whose second window is past that warm-up.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Result, percentile

SESSION_TURNS = 20
#: The last window may be this much above the second one and still count as flat.
FLAT_RATIO = 1.25
FORMATION = """\
memory:
  uri: {uri}
agents:
  - name: assistant
    memory:
      extract_every: 6
"""
TOPICS = ["tea", "jazz", "kayaks", "chess", "lisbon", "rust", "gardening", "marathons"]


def _reply(request: dict[str, Any]) -> Any:
    """Extraction requests get one new fact; chat turns get a short answer."""
    from tests.fakellm import Text

    system = " ".join(
        str(m.get("content")) for m in request.get("messages", []) if m.get("role") == "system"
    )
    if "extract durable facts" in system:
        n = len(request.get("messages", [{}])[-1].get("content") or "") + time.monotonic_ns()
        fact = f"User mentioned {TOPICS[n % len(TOPICS)]} in conversation {n % 100_000}"
        return Text(json.dumps({"facts": [{"text": fact, "importance": 0.5}]}))
    return Text("Noted, thank you.")


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _turns(
    url: str, key: str, turns: int, window: int, pid: int
) -> list[tuple[float, float, float]]:
    """``(rss MB, p50 ms, p95 ms)`` per window of ``window`` turns."""
    import httpx

    rows: list[tuple[float, float, float]] = []
    session: str | None = None
    times: list[float] = []
    with httpx.Client(
        base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=120
    ) as client:
        for i in range(turns):
            if i % SESSION_TURNS == 0:
                session = None
            body: dict[str, Any] = {"message": f"Turn {i}: I was thinking about {TOPICS[i % 8]}"}
            if session:
                body["session_id"] = session
            start = time.perf_counter()
            resp = client.post("/v1/chat", json=body)
            times.append((time.perf_counter() - start) * 1000)
            if resp.status_code != 200 or resp.json().get("status") != "completed":
                raise RuntimeError(f"turn {i} failed: {resp.status_code} {resp.text[:200]}")
            session = resp.json()["session_id"]
            if (i + 1) % window == 0:
                row = (_rss_mb(pid), statistics.median(times), percentile(times, 95))
                rows.append(row)
                print(
                    f"  soak: turns {i + 1:5d}  rss {row[0]:6.1f} MB  "
                    f"p50 {row[1]:6.1f} ms  p95 {row[2]:6.1f} ms",
                    file=sys.stderr,
                    flush=True,
                )
                times = []
    return rows


def run(quick: bool) -> list[Result]:
    from muxi_cli.stores.server_keys import KeyStore
    from tests.fakellm import FakeLLM
    from tests.server.serveproc import ServeProcess

    turns, window = (400, 50) if quick else (2000, 200)
    with tempfile.TemporaryDirectory(prefix="muxi-bench-soak-") as tmp, FakeLLM() as llm:
        root = Path(tmp)
        home = root / "home"
        config = llm.write_formation(root, extra=FORMATION.format(uri=root / "memory"))
        llm.set_default(_reply)
        _, key = KeyStore(home / "data" / "server_keys.json").create("user", "soak")
        proc = ServeProcess(home, config, args=("--rate", "0")).start()
        try:
            assert proc.proc is not None
            rows = _turns(proc.url, key, turns, window, proc.proc.pid)
        finally:
            proc.stop()
    second, last = rows[1], rows[-1]
    rss_ratio, p50_ratio = last[0] / second[0], last[1] / second[1]
    note = f"{turns} turns, windows of {window}, long-term memory on (local embedder)"

    def verdict(ratio: float) -> str:
        return "met" if ratio <= FLAT_RATIO else "MISSED"

    return [
        Result("soak: server RSS, second window", round(second[0], 1), "MB", note=note),
        Result("soak: server RSS, last window", round(last[0], 1), "MB"),
        Result(
            "soak: RSS last/second window",
            round(rss_ratio, 3),
            "x",
            target=f"<= {FLAT_RATIO}",
            note=verdict(rss_ratio),
        ),
        Result("soak: turn p50, second window", round(second[1], 1), "ms"),
        Result("soak: turn p50, last window", round(last[1], 1), "ms"),
        Result(
            "soak: turn p50 last/second window",
            round(p50_ratio, 3),
            "x",
            target=f"<= {FLAT_RATIO}",
            note=verdict(p50_ratio),
        ),
        Result("soak: turn p95, last window", round(last[2], 1), "ms"),
    ]
