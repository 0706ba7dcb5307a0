"""Helpers for the tool tests: demo server configs, free ports, readiness polling."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from muxi_cli.tools.host import ToolManager
from tests.net import free_port, wait_listening
from tests.procs import stop

SERVERS = Path(__file__).resolve().parent.parent / "mcp_servers"
DEMO = SERVERS / "demo_server.py"
PY = sys.executable


def demo(*extra: str, **config: Any) -> dict[str, Any]:
    """The config of the demo server over stdio."""
    return {"command": PY, "args": [str(DEMO), *extra], **config}


def start_http_demo(mode: str = "--http") -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [PY, str(DEMO), mode, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
    except BaseException:
        stop(proc)
        raise
    return proc, port


def stop_proc(proc: subprocess.Popen[bytes]) -> None:
    stop(proc)


ManagerFactory = Callable[..., ToolManager]


def by_name(tools: list[Any]) -> dict[str, Any]:
    return {t.name: t for t in tools}
