"""Child processes in tests: always stopped, and none left behind.

``stopping(proc)`` is the context manager every test wraps a ``Popen`` in, so
a failing assertion can never leave the process running. ``leftover_children``
is what the suite's session-finish check (tests/conftest.py) uses.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

P = TypeVar("P", bound="subprocess.Popen[Any]")

#: Helpers the interpreter itself keeps for the life of the pytest process
#: (``multiprocessing``'s resource tracker for "spawn" semaphores): they end
#: with it and are not a test's leftovers.
_INTERPRETER_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def run_muxi(
    *args: str, stdin: str | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m muxi_cli ARGS`` to its end, output captured, outside CI mode (as users run it)."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run(
        [sys.executable, "-m", "muxi_cli", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; closes its pipes. Returns the status."""
    try:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
    finally:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError, ValueError):
                    pipe.close()
    return proc.returncode


@contextlib.contextmanager
def stopping(proc: P, timeout: float = 10.0) -> Iterator[P]:
    """``with stopping(Popen(...)) as proc:``: the process is stopped however the block ends."""
    try:
        yield proc
    finally:
        stop(proc, timeout)


def describe(pid: int) -> str:
    """``pid 123: muxi serve --port 4000`` (or what is known of it)."""
    import psutil

    try:
        p = psutil.Process(pid)
        cmd = " ".join(p.cmdline()) or p.name()
    except psutil.Error:
        return f"pid {pid}"
    return f"pid {pid}: {cmd[:300]}"


def _descendants(pid: int) -> list[int] | None:
    """Descendant pids from ``/proc/PID/task/*/children`` (Linux, cheap: no scan of every
    process, which matters when it runs around each test); ``None`` where that is missing."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            if current == pid:
                return None
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    kids = [int(k) for k in handle.read().split()]
            except OSError:
                if current == pid:
                    return None
                continue
            found += kids
            todo += kids
    return found


def _alive_and_ours(pid: int) -> bool:
    """Not a zombie, not one of the interpreter's own helpers (see ``_INTERPRETER_HELPERS``)."""
    import psutil

    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        cmd = " ".join(p.cmdline())
    except psutil.Error:  # it ended while we looked
        return False
    return not any(helper in cmd for helper in _INTERPRETER_HELPERS)


def children(pid: int | None = None) -> set[int]:
    """Live descendants of ``pid`` (default: this process), zombies and interpreter helpers left out."""
    pid = os.getpid() if pid is None else pid
    pids = _descendants(pid)
    if pids is None:
        import psutil

        try:
            pids = [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return set()
    return {p for p in pids if _alive_and_ours(p)}


def leftover_children(grace: float = 3.0) -> list[int]:
    """Descendants still alive after ``grace`` seconds (a process being stopped may still be exiting)."""
    import psutil

    pids = children()
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    _gone, alive = psutil.wait_procs(procs, timeout=grace)
    return sorted(p.pid for p in alive if p.pid in children())


def kill_all(pids: list[int]) -> None:
    import psutil

    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()
