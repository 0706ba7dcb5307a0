"""Helpers for the MCP developer tooling tests."""

from __future__ import annotations

import sys
from pathlib import Path

from muxi_cli.mcpdev.target import Target, parse_target

SERVERS = Path(__file__).resolve().parent.parent / "mcp_servers"
PY = sys.executable


def server_target(script: str, *args: str) -> Target:
    """One of the test servers, run over stdio with this interpreter."""
    return parse_target([PY, str(SERVERS / script), *args])


def time_target() -> Target:
    """The real third-party server ``mcp-server-time`` (installed in the venv)."""
    return parse_target([PY, "-m", "mcp_server_time"])
