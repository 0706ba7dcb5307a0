"""Stopping `muxi chat` while a slow synchronous Python tool runs (issue 12,
findings 1 and 2): Ctrl-C and turn_timeout take effect at once, the process
exits promptly, and the next turn shows the model the stopped request as
stopped instead of asking it again."""

from __future__ import annotations

import json
import os
import signal
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
    with Path({marker!r}).open("a") as fh:
        fh.write(topic + "\\n")
    time.sleep(30)
    return "the slow result"
'''


def wait_started(marker: Path, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Wait until the tool wrote its marker (failing early if muxi ended)."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"muxi exited ({proc.returncode}) before the tool ran: {err}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the tool to start")
        time.sleep(0.05)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "tool-started.txt"


@pytest.fixture
def slow_formation(fake_llm: FakeLLM, tmp_path: Path, marker: Path) -> Path:
    (tmp_path / "slowtool.py").write_text(TOOL.format(marker=str(marker)))
    extra = (
        "agents:\n  - name: helper\n    memory: {enabled: false}\n"
        '    tools: [{python: "slowtool:slow_lookup", approval: allow}]\n'
    )
    return fake_llm.write_formation(tmp_path, extra=extra)


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; every one is killed at the end, whatever happens."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def start(procs: list[subprocess.Popen[str]], *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop("CI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "muxi_cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    procs.append(proc)
    return proc


def muxi_json(*args: str) -> object:
    result = subprocess.run(
        [sys.executable, "-m", "muxi_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_ctrl_c_during_a_sync_tool_exits_at_once_and_is_not_asked_again(
    fake_llm: FakeLLM, slow_formation: Path, marker: Path, spawn: list[subprocess.Popen[str]]
):
    fake_llm.script(ToolCalls([("slow_lookup", {"topic": "tides"})]), Text("Paris."))
    proc = start(spawn, "chat", "CALL_TOOL look up tides")
    wait_started(marker, proc)
    sent_at = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    elapsed = time.monotonic() - sent_at
    assert proc.returncode == 130, err
    assert elapsed < 3, f"exit took {elapsed:.1f} s after Ctrl-C"

    sessions = muxi_json("sessions", "list", "--json")
    session_id = sessions[0]["id"]  # type: ignore[index]
    shown = muxi_json("sessions", "show", session_id, "--json")
    messages = shown["messages"] if isinstance(shown, dict) else shown  # type: ignore[index]
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("tool", "complete"),
        ("assistant", "cancelled"),
    ]
    assert "Cancelled by the user" in messages[2]["content"]

    again = start(spawn, "chat", "what is the capital of France", "-s", session_id)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert out.strip() == "Paris."
    assert "slow result" not in out
    assert marker.read_text().splitlines() == ["tides"]  # the tool never ran again
    sent = fake_llm.requests[-1]["messages"]
    assert [m["role"] for m in sent if m["role"] != "system"] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert sent[-1]["content"] == "what is the capital of France"
    assert "cancelled this request" in sent[-2]["content"]


def test_turn_timeout_stops_a_sync_tool_within_a_second(
    fake_llm: FakeLLM,
    slow_formation: Path,
    marker: Path,
    spawn: list[subprocess.Popen[str]],
):
    slow_formation.write_text(slow_formation.read_text() + "turn_timeout: 4\n")
    fake_llm.script(ToolCalls([("slow_lookup", {"topic": "tides"})]))
    proc = start(spawn, "chat", "look up tides")
    wait_started(marker, proc)
    started = time.monotonic()
    _out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 4, err
    assert "longer than 4 s" in err
    # The turn began before the tool did, so the timeout falls within 4 s of
    # the marker; the 30 s tool must not hold the exit up.
    assert elapsed < 4 + 2, f"exit came {elapsed:.1f} s after the tool started"
