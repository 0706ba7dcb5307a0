"""Warm hosts in tests: find every daemon of a runtime folder and stop it.

Daemons run detached (their own session, reparented to init once the client
exits), so the suite's leftover-children check cannot see them: each test's
runtime folder is swept by ``stop_hosts_in`` (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import psutil


def daemons_of(runtime_dir: Path) -> list[psutil.Process]:
    """Every host daemon whose ``--dir`` is ``runtime_dir`` (ready or still starting)."""
    wanted = str(runtime_dir)
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info.get("cmdline") or []
        if "muxi_cli.host.daemon" in argv and wanted in argv:
            found.append(proc)
    return found


def stop_hosts_in(runtime_dir: Path, timeout: float = 10.0) -> int:
    """SIGTERM every daemon of ``runtime_dir``, wait, SIGKILL what is left; returns the count."""
    try:
        if not any(runtime_dir.iterdir()):
            return 0  # a spawn opens <id>.log before the daemon runs: nothing was started
    except OSError:
        pass
    procs = daemons_of(runtime_dir)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    _gone, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    return len(procs)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    return False
