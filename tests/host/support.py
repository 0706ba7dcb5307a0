"""Running ``muxi`` with warm hosts switched on, and looking at the hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.hosts import daemons_of


def host_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["MUXI_HOST"] = "on"
    env.update(extra)
    return env


def muxi(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str = "",
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "muxi_cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env if env is not None else host_env(),
        cwd=cwd,
        timeout=timeout,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def start(env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """``muxi host start``: waits until this formation's host is ready; returns its id."""
    out = ok(muxi("host", "start", env=env, cwd=cwd)).stdout
    return out.split()[1]


def statuses(env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return json.loads(ok(muxi("host", "status", "--json", env=env)).stdout)


def daemon_pids(runtime_dir: Path) -> list[int]:
    return sorted(p.pid for p in daemons_of(runtime_dir))


def wait_exit(pid: int, timeout: float = 30.0) -> bool:
    """Wait for ``pid`` to exit (pidfd: no polling); True when it did."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)
