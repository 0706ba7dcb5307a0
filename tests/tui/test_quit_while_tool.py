"""Quitting the chat app while a slow sync Python tool runs ends the process
promptly (issue 12, finding 2): the real `muxi` entry point on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakellm import FakeLLM, Text, ToolCalls

TOOL = '''
import time
from pathlib import Path

def slow_lookup(topic: str) -> str:
    """Look a topic up (slowly)."""
    Path({marker!r}).write_text(topic)
    time.sleep(30)
    return "the slow result"
'''

EXTRA = """
agents:
  - name: assistant
    memory: {enabled: false}
    tools:
      - {python: "slowtool_pty:slow_lookup", approval: allow}
"""


class Terminal:
    """`muxi` on a pseudo-terminal; what it draws is read and thrown away."""

    def __init__(self, cwd: Path) -> None:
        self.master, slave = pty.openpty()
        env = dict(os.environ, TERM="xterm-256color", COLUMNS="100", LINES="30")
        env.pop("CI", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "muxi_cli"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = b""

    def pump(self, seconds: float) -> None:
        """Read output for up to ``seconds`` (the app blocks if nobody reads)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.screen = (self.screen + os.read(self.master, 65536))[-200_000:]
                except OSError:
                    return

    def wait(self, predicate, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                raise AssertionError(f"muxi exited ({self.proc.returncode}) waiting for {what}")
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}")
            self.pump(0.1)

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def terminal(fake_llm: FakeLLM, tmp_path: Path) -> Iterator[Terminal]:
    (tmp_path / "muxi.yaml").write_text(fake_llm.formation_yaml(extra=EXTRA))
    term = Terminal(tmp_path)
    try:
        yield term
    finally:
        term.close()


def test_ctrl_q_while_a_sync_tool_runs_exits_promptly(
    terminal: Terminal, fake_llm: FakeLLM, tmp_path: Path
):
    marker = tmp_path / "started.txt"
    (tmp_path / "slowtool_pty.py").write_text(TOOL.format(marker=str(marker)))
    fake_llm.script(ToolCalls([("slow_lookup", {"topic": "tides"})]), Text("done"))
    terminal.wait(lambda: b"Enter send" in terminal.screen, "the chat screen")
    terminal.type(b"look up tides")
    terminal.wait(lambda: b"tides" in terminal.screen, "the typed text")
    terminal.type(b"\r")
    terminal.wait(marker.exists, "the tool to start")
    quit_at = time.monotonic()
    terminal.type(b"\x11")  # Ctrl+Q
    end = time.monotonic() + 20
    while terminal.proc.poll() is None and time.monotonic() < end:
        terminal.pump(0.1)
    elapsed = time.monotonic() - quit_at
    assert terminal.proc.poll() is not None, "muxi still running 20 s after Ctrl+Q"
    assert elapsed < 4, f"muxi took {elapsed:.1f} s to exit after Ctrl+Q"
