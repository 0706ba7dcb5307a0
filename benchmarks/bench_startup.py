"""How long ``muxi --help`` and ``muxi chat --help`` take to answer.

Each command runs in a fresh process, next to ``python -c pass`` on the same
interpreter (the floor every Python CLI pays), both through the venv's
``muxi`` console script and through ``python -m muxi_cli``. The commands are
run round-robin so that a noisy neighbour slows all of them alike.

Target: within 120 ms of ``python -c pass``. The last rows come from
``python -X importtime``: what importing the command tree costs, and the
modules that cost most, so a regression points at its cause.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import PYTHON, ROOT, Result

TARGET_MS = 120.0
TARGET = f"within {TARGET_MS:.0f} ms of python -c pass"


def _env(work: Path) -> dict[str, str]:
    """A clean environment with a bytecode cache, as an installed muxi has.

    ``PYTHONDONTWRITEBYTECODE`` is dropped (with it, every muxi module would be
    compiled from source on every start); the ``.pyc`` files go to a temp
    folder so the source tree is left alone.
    """
    env = dict(os.environ)
    for name in (
        "MUXI_PROFILE",
        "MUXI_CONFIG",
        "PYTHONSTARTUP",
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONDONTWRITEBYTECODE",
    ):
        env.pop(name, None)
    env.update(
        MUXI_HOME=str(work / "home"),
        PYTHONPYCACHEPREFIX=str(work / "pycache"),
        COLUMNS="80",
        TERM="dumb",
    )
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _once(args: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL, timeout=60
    )
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{' '.join(args[-3:])} failed (exit {done.returncode}): {tail[0]}")
    return elapsed


def _round_robin(
    commands: dict[str, list[str]], repeat: int, env: dict[str, str], cwd: Path
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for args in commands.values():  # warm the OS caches and the .pyc files
        _once(args, env, cwd)
    for _ in range(repeat):
        for name, args in commands.items():
            samples[name].append(_once(args, env, cwd))
    return samples


def import_costs(
    args: Sequence[str], env: dict[str, str], cwd: Path, runs: int
) -> dict[str, float]:
    """Median cumulative import time (ms) of each top-level import of a command,
    from ``python -X importtime`` (imports nested in another one are folded in)."""
    per_module: dict[str, list[float]] = {}
    for _ in range(runs):
        done = subprocess.run(
            [PYTHON, "-X", "importtime", *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        for line in done.stderr.splitlines():
            parts = line.split("|")
            if not line.startswith("import time:") or len(parts) != 3:
                continue
            name = parts[2][1:]  # one space, then two per nesting level
            try:
                cumulative_us = int(parts[1])
            except ValueError:  # the header line
                continue
            if not name.startswith(" "):
                per_module.setdefault(name, []).append(cumulative_us / 1000)
    return {name: statistics.median(values) for name, values in per_module.items()}


def _breakdown(costs: dict[str, float], count: int = 5) -> str:
    ranked = sorted(((ms, name) for name, ms in costs.items()), reverse=True)[:count]
    return ", ".join(f"{name} {ms:.0f}" for ms, name in ranked)


def run(quick: bool) -> list[Result]:
    repeat = 5 if quick else 10
    muxi = Path(PYTHON).with_name("muxi")
    commands: dict[str, list[str]] = {"python -c pass": [PYTHON, "-c", "pass"]}
    if muxi.exists():
        commands["muxi --help"] = [str(muxi), "--help"]
        commands["muxi chat --help"] = [str(muxi), "chat", "--help"]
    commands["python -m muxi_cli --help"] = [PYTHON, "-m", "muxi_cli", "--help"]
    commands["python -m muxi_cli chat --help"] = [PYTHON, "-m", "muxi_cli", "chat", "--help"]

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="muxi-bench-startup-") as tmp:
        cwd = Path(tmp)
        env = _env(cwd)
        samples = _round_robin(commands, repeat, env, cwd)
        medians = {name: statistics.median(values) for name, values in samples.items()}
        floor = medians["python -c pass"]
        note = f"median of {repeat}, fresh process"
        load = os.getloadavg()[0]
        results.append(
            Result(
                "startup: python -c pass",
                round(floor, 1),
                "ms",
                note=f"{note}; load average {load:.1f} on {os.cpu_count()} CPUs",
            )
        )
        for name in commands:
            if name == "python -c pass":
                continue
            results.append(
                Result(
                    f"startup: {name}",
                    round(medians[name], 1),
                    "ms",
                    note=f"{note}; min {min(samples[name]):.1f}",
                )
            )
            results.append(
                Result(
                    f"startup: {name} minus python -c pass",
                    round(medians[name] - floor, 1),
                    "ms",
                    target=TARGET,
                    note="met" if medians[name] - floor <= TARGET_MS else "MISSED",
                )
            )

        runs = 2 if quick else 3
        baseline = set(import_costs(["-c", "pass"], env, cwd, 1))
        for label, args in (
            ("muxi --help", ["-m", "muxi_cli", "--help"]),
            ("muxi chat --help", ["-m", "muxi_cli", "chat", "--help"]),
        ):
            costs = {
                name: ms
                for name, ms in import_costs(args, env, cwd, runs).items()
                if name not in baseline
            }
            results.append(
                Result(
                    f"startup: imports of {label} (importtime)",
                    round(sum(costs.values()), 1),
                    "ms",
                    note=f"beyond python -c pass, ms cumulative: {_breakdown(costs)}",
                )
            )
    return results
