"""Scripted one-shot commands, cold and through the warm local host, against ``llm``.

Every figure is a whole process timed from outside, against the local fake LLM
server (``tests/fakellm.py``, answering at once), next to the peer ``llm -m fake
hi`` (llm 0.36, an OpenAI-compatible model pointed at the same server) measured
in the same run. Commands that are compared run alternately (A B A B, the
starting one rotating each round) so the machine's drift cancels; ratios are the
median of the round-by-round ratios. Peak memory is the process's high-water
mark (``os.wait4``), the client only: a host started in the background is not
the client's child.

- cold (``MUXI_HOST=off``): ``muxi chat hi -o text`` with memory off, memory on
  and nothing stored, and three memories stored; a one-shot tool turn with the
  real ``mcp-server-time`` over stdio; ``muxi memory search`` at 100k memories;
- first call with the host on: the client runs in-process and starts a host in
  the background; it should take what a cold call takes;
- warm (``muxi host start`` first): the same commands through the host;
- 100 sequential one-shots in a shell loop, cold and warm (20 with ``--quick``).

A build without ``muxi host`` reports the host rows as skipped ("no host").
The tool turn's cost beyond the model is its wall time minus a plain
``muxi chat hi`` (memory off, no MCP server; alternating, cold against cold,
warm against warm): the fake answers at once, so what is left is what the tool
costs, the MCP server's start included when it starts per process, plus the
second model request of the tool round. The 100k memories are written straight into the store with random
unit vectors (as ``bench_memory`` does) after one real ``muxi memory add``;
the search itself is one real ``muxi memory search`` process.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import oneshot_support as sup
from benchmarks.common import PYTHON, Result

USER = "user042"  # one of the 100 users of the 100k bulk rows
QUESTION = "What time is it in Paris?"
FACTS = ("I drink green tea every morning", "I live in Lisbon", "I play jazz piano")
MEMORY_OFF = "agents:\n  - name: assistant\n    memory:\n      enabled: false\n"
TOOLS = f"""\
mcp_servers:
  time:
    command: {PYTHON}
    args: [-m, mcp_server_time, --local-timezone, UTC]
agents:
  - name: clock
    mcp_servers: [time]
    tools: [calculator]
    max_tool_rounds: 300
    memory:
      enabled: false
"""
Run = Callable[[], sup.Sample]


def _model(pause: threading.Event) -> Callable[[dict[str, Any]], Any]:
    """The fake's answers: ``ok`` to anything but the time question, which gets
    the time tool (a calculator call while the cold server is still starting,
    as tests/cli/test_mcp.py does), then a sentence built on its result."""
    from tests.fakellm import Text, ToolCalls

    def answer(request: dict[str, Any]) -> Any:
        messages = request.get("messages") or []
        for message in messages:
            if message.get("role") == "tool" and "Europe/Paris" in str(message.get("content")):
                return Text("In Paris it is late.")
        if not any(QUESTION in str(m.get("content")) for m in messages):
            return Text("ok")
        names = {t["function"]["name"] for t in request.get("tools") or []}
        if "time__get_current_time" in names:
            return ToolCalls([("time__get_current_time", {"timezone": "Europe/Paris"})])
        pause.wait(0.05)  # the server is still starting: think a little, then look again
        return ToolCalls([("calculator", {"expression": "1+1"})])

    return answer


class Bench:
    """Formations, homes and environments of one run, all under ``work``."""

    def __init__(self, work: Path, base_url: str) -> None:
        self.work = work
        self.runtime_dir = work / "run"
        self.runtime_dir.mkdir(mode=0o700)
        self.base = sup.base_env(work)
        self.muxi = sup.muxi_cmd()
        peer = sup.peer_cmd()
        self.peer: Run | None = None
        if peer is not None:
            env = sup.peer_env(self.base, work / "llm", base_url)
            self.peer = self._check([*peer, "-m", "fake", "hi"], env, work, "ok")
        self.envs: dict[str, tuple[dict[str, str], Path]] = {}
        for name, formation, extra in (
            ("off", "f-off", MEMORY_OFF),
            ("empty", "f-mem", ""),
            ("mem", "f-mem", ""),
            ("tool", "f-tool", TOOLS),
            ("big", "f-mem", ""),
        ):
            folder = work / formation
            if not folder.exists():
                folder.mkdir()
                (folder / "muxi.yaml").write_text(_formation(base_url, extra), encoding="utf-8")
            env = {
                **self.base,
                "MUXI_HOME": str(work / f"home-{name}"),
                "MUXI_CONFIG": str(folder / "muxi.yaml"),
                "MUXI_RUNTIME_DIR": str(self.runtime_dir),
                "MUXI_HOST_IDLE": "300",  # a host left behind by a crash ends by itself
                "MUXI_USER_ID": USER,
            }
            self.envs[name] = (env, folder)

    def env(self, name: str, host: bool) -> tuple[dict[str, str], Path]:
        env, cwd = self.envs[name]
        return {**env, "MUXI_HOST": "on" if host else "off"}, cwd

    def _check(self, args: list[str], env: dict[str, str], cwd: Path, expect: str) -> Run:
        def once() -> sup.Sample:
            sample = sup.measure(args, env, cwd)
            if expect not in sample.stdout:
                raise RuntimeError(f"`{' '.join(args[1:3])}` printed {sample.stdout[-120:]!r}")
            return sample

        return once

    def chat(self, name: str, host: bool) -> Run:
        env, cwd = self.env(name, host)
        return self._check([*self.muxi, "chat", "hi", "-o", "text"], env, cwd, "ok")

    def tool_turn(self, host: bool) -> Run:
        env, cwd = self.env("tool", host)
        args = [*self.muxi, "chat", QUESTION, "-a", "clock", "--yes", "-o", "json"]

        def once() -> sup.Sample:
            sample = sup.measure(args, env, cwd)
            calls = json.loads(sample.stdout).get("tool_calls") or []
            if not any(c.get("tool") == "get_current_time" for c in calls):
                raise RuntimeError("the tool turn did not call mcp-server-time")
            return sample

        return once

    def search(self, host: bool) -> Run:
        env, cwd = self.env("big", host)
        return self._check([*self.muxi, "memory", "search", "tea jazz", "-n", "5"], env, cwd, USER)

    def loop(self, n: int, host: bool) -> Run:
        env, cwd = self.env("off", host)
        script = (
            'n=$1; shift; for i in $(seq "$n"); do "$@" chat hi -o text >/dev/null || exit 1; done'
        )
        args = ["sh", "-c", script, "sh", str(n), *self.muxi]
        return lambda: sup.measure(args, env, cwd, timeout=60.0 * n)

    def seed(self) -> None:
        for text in FACTS:
            env, cwd = self.env("mem", False)
            sup.measure([*self.muxi, "memory", "add", text], env, cwd)
        env, cwd = self.env("big", False)
        sup.measure([*self.muxi, "memory", "add", FACTS[0]], env, cwd)
        sup.seed(env, cwd, 100_000)

    def start_host(self, name: str) -> float:
        env, cwd = self.env(name, True)
        return sup.start_host(env, cwd)

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        env, cwd = self.env(name, True)
        sup.wait_host_ready(env, cwd, timeout)

    def stop_hosts(self) -> None:
        env, cwd = self.env("off", True)
        sup.stop_hosts(env, cwd, self.runtime_dir)


def _formation(base_url: str, extra: str) -> str:
    text = (
        "default_model: openai/fake-model\nproviders:\n  openai:\n"
        f"    base_url: {base_url}\n    api_key: sk-fake\n"
    )
    return text + ("\n" + extra if extra else "")


def _alternate(runs: dict[str, Run], rounds: int) -> dict[str, list[sup.Sample]]:
    """One untimed round (caches, bytecode), then ``rounds`` rounds, rotating who starts."""
    names = list(runs)
    for name in names:
        runs[name]()
    samples: dict[str, list[sup.Sample]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].append(runs[name]())
    return samples


def _ms(samples: list[sup.Sample]) -> float:
    return statistics.median(s.wall_ms for s in samples)


def _mib(samples: list[sup.Sample]) -> float:
    return statistics.median(s.peak_mib for s in samples)


def _ratio(a: list[sup.Sample], b: list[sup.Sample]) -> float:
    return statistics.median(x.wall_ms / y.wall_ms for x, y in zip(a, b, strict=True))


def _vs_peer(
    name: str, s: dict[str, list[sup.Sample]], key: str, target: str | None, extra: str = ""
) -> Result:
    wall = f"{_ms(s[key]):.0f} ms"
    rest = f"peak {_mib(s[key]):.1f} MiB, {len(s[key])} pairs{extra}"
    if "llm" not in s:
        note = f"{sup.PEER_MISSING}; {wall}, {rest}"
        return Result(name, round(_ms(s[key])), "ms", target, note)
    note = f"{wall} vs llm {_ms(s['llm']):.0f} ms, {rest}"
    return Result(name, round(_ratio(s[key], s["llm"]), 2), "x llm", target, note)


def _cold(bench: Bench, rounds: int) -> list[Result]:
    runs = {} if bench.peer is None else {"llm": bench.peer}
    runs.update(
        off=bench.chat("off", False), empty=bench.chat("empty", False), mem=bench.chat("mem", False)
    )
    s = _alternate(runs, rounds)
    out = []
    if "llm" in s:
        note = f"peak {_mib(s['llm']):.1f} MiB, median of {rounds}, llm 0.36, the same fake model"
        out.append(Result("oneshot: llm -m fake hi (peer)", round(_ms(s["llm"])), "ms", note=note))
    else:
        out.append(Result("oneshot: llm -m fake hi (peer)", "skipped", "", note=sup.PEER_MISSING))
    return [
        *out,
        _vs_peer("oneshot: cold chat hi, memory off", s, "off", "<= 1.3x"),
        _vs_peer("oneshot: cold chat hi, memory on, none stored", s, "empty", "<= 1.3x"),
        _vs_peer("oneshot: cold chat hi, 3 memories stored", s, "mem", "<= 2x"),
    ]


def _tool_rows(bench: Bench, rounds: int, host: bool) -> list[Result]:
    mode = "warm" if host else "cold"
    s = _alternate({"plain": bench.chat("off", host), "tool": bench.tool_turn(host)}, rounds)
    beyond = statistics.median(
        t.wall_ms - p.wall_ms for t, p in zip(s["tool"], s["plain"], strict=True)
    )
    note = (
        f"tool turn {_ms(s['tool']):.0f} ms - chat hi {_ms(s['plain']):.0f} ms, "
        f"mcp-server-time over stdio, {rounds} pairs"
    )
    target = "<= 150 ms" if host else None
    return [
        Result(f"oneshot: {mode} tool turn beyond the model", round(beyond), "ms", target, note)
    ]


def _search_row(bench: Bench, rounds: int, host: bool) -> Result:
    mode = "warm" if host else "cold"
    s = _alternate({"search": bench.search(host)}, rounds)["search"]
    note = f"one process, peak {_mib(s):.1f} MiB, 100 users x 1,000, median of {rounds}"
    target = "<= 150 ms" if host else None
    return Result(f"oneshot: {mode} memory search at 100k", round(_ms(s)), "ms", target, note)


def _loop_row(bench: Bench, n: int, host: bool) -> Result:
    mode = "warm" if host else "cold"
    sample = bench.loop(n, host)()
    note = f"sh -c 'for ...; do muxi chat hi; done', memory off, peak {sample.peak_mib:.1f} MiB"
    return Result(
        f"oneshot: {n} one-shots in a shell loop, {mode}",
        round(sample.wall_ms / 1000, 1),
        "s",
        note=note,
    )


def _first_call(bench: Bench, rounds: int) -> list[Result]:
    """A cold call, then a call that finds no host (and starts one), alternating;
    after each, wait for that host and stop it, so every first call is a first."""
    cold_run, first_run = bench.chat("off", False), bench.chat("off", True)
    cold, first, ready = [], [], []
    for _ in range(rounds + 1):  # the first round warms the caches
        cold.append(cold_run())
        started = time.perf_counter()
        first.append(first_run())
        bench.wait_ready("off")
        ready.append(time.perf_counter() - started)
        bench.stop_hosts()
    cold, first, ready = cold[1:], first[1:], ready[1:]
    note = (
        f"{_ms(first):.0f} ms vs {_ms(cold):.0f} ms, peak {_mib(first):.1f} MiB; "
        f"host ready {statistics.median(ready):.1f} s after the call started; {rounds} pairs"
    )
    return [
        Result(
            "oneshot: first call, host on / cold",
            round(_ratio(first, cold), 2),
            "x cold",
            "~1x",
            note,
        )
    ]


def _warm(bench: Bench, rounds: int, loop_n: int) -> list[Result]:
    starts = {name: bench.start_host(name) for name in ("off", "mem", "tool", "big")}
    runs = {} if bench.peer is None else {"llm": bench.peer}
    runs.update(off=bench.chat("off", True), mem=bench.chat("mem", True))
    s = _alternate(runs, rounds * 2)
    tool, search, loop = (
        _tool_rows(bench, rounds, True),
        _search_row(bench, rounds, True),
        _loop_row(bench, loop_n, True),
    )
    for name in starts:  # a host that went away would have made these cold figures
        bench.wait_ready(name, timeout=5.0)
    start_note = f"; `muxi host start` {statistics.median(starts.values()) / 1000:.1f} s"
    return [
        _vs_peer("oneshot: warm chat hi, memory off", s, "off", "<= 0.3x"),
        _vs_peer("oneshot: warm chat hi, 3 memories stored", s, "mem", "<= 0.3x", start_note),
        Result(
            "oneshot: warm chat hi, client peak",
            round(max(_mib(s["off"]), _mib(s["mem"])), 1),
            "MiB",
            "<= 60 MiB",
            f"memory off {_mib(s['off']):.1f}, 3 memories {_mib(s['mem']):.1f}",
        ),
        *tool,
        search,
        loop,
    ]


def _skipped(names: list[str], note: str) -> list[Result]:
    return [Result(f"oneshot: {n}", "skipped", "", note=note) for n in names]


def run(quick: bool) -> list[Result]:
    from tests.fakellm import FakeLLM

    rounds, few, loop_n = (3, 2, 20) if quick else (10, 5, 100)
    work = Path(tempfile.mkdtemp(prefix="muxi-1shot-"))  # short: socket paths stay < 100 bytes
    pause = threading.Event()
    bench: Bench | None = None
    try:
        with FakeLLM() as fake:
            fake.set_default(_model(pause))
            bench = Bench(work, fake.openai_base_url)
            bench.seed()
            results = _cold(bench, rounds)
            results += _tool_rows(bench, few, False)
            results.append(_search_row(bench, few, False))
            results.append(_loop_row(bench, loop_n, False))
            if not sup.host_available():
                return results + _skipped(
                    [
                        "first call, host on / cold",
                        "warm chat hi, memory off",
                        "warm chat hi, 3 memories stored",
                        "warm chat hi, client peak",
                        "warm tool turn beyond the model",
                        "warm memory search at 100k",
                        f"{loop_n} one-shots in a shell loop, warm",
                    ],
                    sup.NO_HOST,
                )
            results += _first_call(bench, few)
            return results + _warm(bench, rounds, loop_n)
    finally:
        pause.set()
        if bench is not None:
            bench.stop_hosts()
        shutil.rmtree(work, ignore_errors=True)
