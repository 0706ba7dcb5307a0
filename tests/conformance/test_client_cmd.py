"""``muxi mcp conformance-client URL`` against a real MCP server over HTTP
(without the suite): it connects as a formation's connection does, calls every
tool once with generated arguments, and reports the run as JSON on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.net import free_port, wait_listening
from tests.procs import run_muxi, stop

SERVER = Path(__file__).resolve().parent.parent / "mcp_servers" / "plain_http.py"


@pytest.fixture(scope="module")
def plain_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(proc)


def test_it_calls_every_tool_and_reports_the_run(plain_url: str) -> None:
    done = run_muxi("mcp", "conformance-client", plain_url, timeout=120)
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert run["connected"] is True
    assert run["tools"] == ["add_numbers", "refuse"]
    calls = {c["tool"]: c for c in run["calls"]}
    assert calls["add_numbers"]["ok"] is True
    assert "The sum of" in calls["add_numbers"]["result"]
    assert calls["refuse"]["ok"] is False
    assert "refused on purpose" in calls["refuse"]["result"]
    # An error result is not a pass: the exit code says the run was not clean.
    assert done.returncode == 1
    assert "connected: 2 tool(s)" in done.stderr


def test_an_unreachable_server_is_reported_not_raised() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    done = run_muxi("mcp", "conformance-client", url, "--timeout", "5", timeout=120)
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert run["connected"] is False
    assert run["error"]
    assert done.returncode == 1
