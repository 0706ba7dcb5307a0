"""Processes, the peer and the warm host for ``benchmarks/bench_oneshot.py``.

Every process is measured from outside: wall time around the whole process and
its peak resident memory from ``os.wait4`` (the kernel's high-water mark of the
child and of every descendant it waited for, so a shell loop reports its
largest ``muxi``). A host started in the background is a new session that the
client never waits for, so it is not counted in the client's figure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import PYTHON, ROOT

BIN = Path(PYTHON).parent
PEER_VENV = ROOT / "benchmarks" / ".peer-venv"
PEER_MISSING = "peer missing: pip install -e '.[bench]' (llm>=0.36)"
NO_HOST = "no host: this build has no `muxi host`"
DAEMON = "muxi_cli.host.daemon"

# Variables of the caller that would change what the children do.
DROPPED = (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
    "MUXI_PROFILE",
    "MUXI_CONFIG",
    "MUXI_HOST",
    "MUXI_HOST_IDLE",
    "MUXI_USER_ID",
    "LLM_USER_PATH",
    "PYTHONSTARTUP",
    "PYTHONPROFILEIMPORTTIME",
    # With it every module would be compiled on every start; an installed
    # muxi (and llm) has a bytecode cache, so the children get one.
    "PYTHONDONTWRITEBYTECODE",
)


@dataclass
class Sample:
    wall_ms: float
    peak_mib: float
    stdout: str
    stderr: str


def measure(
    args: Sequence[str], env: dict[str, str], cwd: Path, *, timeout: float = 180.0
) -> Sample:
    """Run ``args`` to the end; raise with its last stderr line unless it exits 0.

    The child gets its own process group, so a timeout kills it and whatever it
    started in the foreground (a shell loop's current ``muxi``).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall_ms = (time.perf_counter() - start) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        sample = Sample(
            wall_ms,
            usage.ru_maxrss / 1024,  # KiB on Linux
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )
    if proc.returncode != 0:
        tail = sample.stderr.strip().splitlines()[-1:] or ["no output"]
        name = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(args[:3]))
        raise RuntimeError(f"`{name}` exit {proc.returncode}: {tail[0][:160]}")
    return sample


def base_env(work: Path) -> dict[str, str]:
    """The caller's environment without provider settings, plus a bytecode cache."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env.update(
        PYTHONPYCACHEPREFIX=str(work / "pycache"),
        MUXI_NO_OLLAMA_PROBE="1",
        LANCEDB_LOG="error",
        TERM="dumb",
        COLUMNS="100",
        NO_COLOR="1",
    )
    return env


def muxi_cmd() -> list[str]:
    script = BIN / "muxi"
    return [str(script)] if script.exists() else [PYTHON, "-m", "muxi_cli"]


# ----------------------------------------------------------------------------- peer


def peer_cmd() -> list[str] | None:
    """``llm`` from this environment (the ``bench`` extra), else from the peer venv."""
    for folder in (BIN, PEER_VENV / "bin"):
        if (folder / "llm").exists():
            return [str(folder / "llm")]
    return None


def peer_env(base: dict[str, str], folder: Path, base_url: str) -> dict[str, str]:
    """llm's user folder with one OpenAI-compatible model, ``fake``, at the fake server."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "extra-openai-models.yaml").write_text(
        f'- {{model_id: fake, model_name: fake-model, api_base: "{base_url}", api_key_name: fake}}\n',
        encoding="utf-8",
    )
    (folder / "keys.json").write_text(json.dumps({"fake": "sk-fake"}), encoding="utf-8")
    return {**base, "LLM_USER_PATH": str(folder)}


# ----------------------------------------------------------------------------- host


def host_available() -> bool:
    return importlib.util.find_spec("muxi_cli.host") is not None


def start_host(env: dict[str, str], cwd: Path) -> float:
    """``muxi host start`` (it returns once the host is ready); its wall ms."""
    return measure([*muxi_cmd(), "host", "start"], {**env, "MUXI_HOST": "on"}, cwd).wall_ms


WAIT_READY = """\
import sys, time
from muxi_cli.host.client import find_host
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    if find_host(None) is not None:
        raise SystemExit(0)
    time.sleep(0.02)
raise SystemExit("no ready host before the deadline")
"""


def wait_host_ready(env: dict[str, str], cwd: Path, timeout: float = 60.0) -> None:
    """Wait for a host started in the background, as the next client would find it."""
    measure([PYTHON, "-c", WAIT_READY, str(timeout)], env, cwd, timeout=timeout + 30)


def stop_hosts(env: dict[str, str], cwd: Path, runtime_dir: Path) -> None:
    """``muxi host stop --all``, then end any host of ``runtime_dir`` that is still there."""
    if host_available():
        try:
            measure([*muxi_cmd(), "host", "stop", "--all"], env, cwd, timeout=60)
        except Exception as exc:
            print(f"  muxi host stop --all: {exc}", file=sys.stderr)
    for pid in our_hosts(runtime_dir):
        end_host(pid)


def our_hosts(runtime_dir: Path) -> set[int]:
    """Host daemons of this run: pids in the runtime dir's meta files, and any
    daemon process whose environment names this runtime dir (one that had not
    written its meta yet). Only processes whose command line is the daemon's."""
    pids: set[int] = set()
    for meta in runtime_dir.glob("*.json"):
        try:
            pids.add(int(json.loads(meta.read_text(encoding="utf-8"))["pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    mark = f"MUXI_RUNTIME_DIR={runtime_dir}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark in (entry / "environ").read_bytes().split(b"\0"):
                pids.add(int(entry.name))
        except OSError:
            continue
    return {p for p in pids if _is_daemon(p)}


def _is_daemon(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return DAEMON.encode() in cmdline


def end_host(pid: int, grace: float = 10.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL (not our child: poll /proc)."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _is_daemon(pid):
                return
            time.sleep(0.05)


# ----------------------------------------------------------------------------- memories

SEED = """\
import asyncio, sys
from benchmarks.oneshot_support import seed_memories
asyncio.run(seed_memories(int(sys.argv[1])))
"""


async def seed_memories(n: int) -> None:
    """Write ``n`` memories with random unit vectors straight into the store of
    ``MUXI_HOME`` (embedding 100k texts would measure the embedder), spread over
    100 users like ``bench_memory``'s bulk rows; run in a child process."""
    from benchmarks.bench_memory import BATCH, bulk_rows
    from muxi_cli import paths
    from muxi_cli.memory.embeddings import LOCAL_DIMS, LOCAL_NAME
    from muxi_cli.stores.lance_records import MemoryRecords
    from muxi_cli.stores.lance_store import LanceStore

    store = await LanceStore(
        str(paths.memory_dir()), embedding_model=LOCAL_NAME, dims=LOCAL_DIMS, optimize_every=0
    ).open()
    try:
        records = MemoryRecords(store)
        rows = bulk_rows(n, LOCAL_DIMS, LOCAL_NAME)
        for start in range(0, n, BATCH):
            await records.add(rows[start : start + BATCH])
        await store.optimize()
    finally:
        await store.close()


def seed(env: dict[str, str], cwd: Path, n: int) -> float:
    """Seed ``n`` memories in a child; its wall seconds."""
    env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)}
    return measure([PYTHON, "-c", SEED, str(n)], env, cwd, timeout=600).wall_ms / 1000
