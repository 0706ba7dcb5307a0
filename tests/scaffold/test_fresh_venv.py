"""The most complete variant, installed from its own pyproject into a brand-new
virtual environment (the MCP SDK comes from the package index): its own tests
pass, and its console script serves a real client over stdio and HTTP."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.scaffold.helpers import clean_env, generate, placeholders_left, run_generated_tests

pytestmark = pytest.mark.slow

_OFFLINE = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _round_trip(target: object) -> None:
    async with asyncio.timeout(60), Client(target) as client:  # type: ignore[arg-type]
        tools = await client.list_tools()
        names = sorted(t.name for t in tools.tools)
        assert names == ["color_swatch", "forecast", "get_alerts", "slow_count"]
        result = await client.call_tool("forecast", {"text": "fresh venv", "times": 2})
        assert result.structured_content == {
            "text": "fresh venv fresh venv",
            "words": 2,
            "characters": 10,
        }


def _wait_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        try:
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"the server exited with {proc.returncode}")
    raise AssertionError("the server did not listen in time")


@pytest.mark.timeout(600)
def test_fresh_venv_install_tests_and_serve(tmp_path: Path) -> None:
    plan = generate(
        tmp_path,
        transport="both",
        dockerfile=True,
        tools=["forecast", "get_alerts"],
        resources=True,
        prompts=True,
    )
    project = plan.project_dir
    assert placeholders_left(project) == []

    env_dir = tmp_path / "fresh-venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            f"{project}[dev]",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=540,
        check=False,
    )
    if install.returncode != 0 and any(s in install.stderr for s in _OFFLINE):
        pytest.skip("the package index is not reachable")
    assert install.returncode == 0, install.stderr[-3000:]

    # Its own test suite, run by the fresh environment's Python.
    tests = run_generated_tests(project, python=str(python))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "skipped" not in tests.stdout

    # The installed console script over stdio...
    script = env_dir / "bin" / "demo-server"
    assert script.is_file()
    asyncio.run(
        _round_trip(StdioServerParameters(command=str(script), args=["--transport", "stdio"]))
    )

    # ... and over streamable HTTP.
    port = _free_port()
    proc = subprocess.Popen(
        [str(script), "--transport", "http", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        _wait_listening(proc, port)
        asyncio.run(_round_trip(f"http://127.0.0.1:{port}/mcp"))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.stdout is not None
    assert proc.stdout.read() == b"", "the HTTP server wrote to stdout (logs belong on stderr)"
    assert sys.executable != str(python)
