"""The same command gives the same output and exit code through a host as in-process."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.fakellm import FakeLLM, Text
from tests.host.support import host_env, muxi, ok, start, statuses

pytestmark = pytest.mark.slow

_VOLATILE = [
    (re.compile(r"run_[0-9a-f]{20}"), "run_X"),
    (re.compile(r"s_[0-9a-f]{12}"), "s_X"),
    (re.compile(r"m_[0-9a-f]+"), "m_X"),
    (re.compile(r'"(ts|created_at|updated_at|last_used_at)": ?"[^"]*"'), r'"\1":"T"'),
    (re.compile(r'"(duration_ms|started_ms|first_chunk_ms)": ?\d+'), r'"\1":0'),
    (re.compile(r'"score": ?[0-9.e-]+'), '"score":0'),
]


def _norm(text: str) -> str:
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text


def _both(*args: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """``args`` in-process, then through the running host (checked with -v)."""
    local = muxi(*args, env=host_env(MUXI_HOST="off"))
    hosted = muxi("-v", *args)
    assert "running through the warm host" in hosted.stderr, hosted.stderr
    hosted.stderr = hosted.stderr.replace("muxi: running through the warm host\n", "")
    return local, hosted


def _same(*args: str) -> subprocess.CompletedProcess[str]:
    local, hosted = _both(*args)
    assert (hosted.returncode, _norm(hosted.stdout)) == (local.returncode, _norm(local.stdout))
    assert _norm(hosted.stderr) == _norm(local.stderr)
    return local


def test_chat_outputs_and_exit_codes(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.write_formation(tmp_path)
    start()
    for fmt in ("text", "json", "jsonl"):
        fake_llm.script(Text("same words"), Text("same words"))
        assert "same words" in _same("chat", "hi", "-o", fmt).stdout
    missing = _same("chat", "hi", "--session", "s_000000000000", "-o", "json")
    assert missing.returncode != 0
    assert _same("chat", "hi", "--agent", "nobody").returncode == 2
    listed = _same("sessions", "list", "--json")
    assert listed.stdout.count('"id"') == 6  # three turns each way
    assert _same("agents", "list", "--json").returncode == 0
    [row] = statuses()
    assert row["pid"]


def test_memory_search(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.write_formation(tmp_path)
    ok(muxi("memory", "add", "the cat is called Tom", env=host_env(MUXI_HOST="off")))
    start()
    found = _same("memory", "search", "cat", "--json")
    assert "Tom" in found.stdout
    assert _same("memory", "list", "--json").returncode == 0


def test_mcp_with_a_real_stdio_server(fake_llm: FakeLLM, tmp_path: Path) -> None:
    import sys

    server = (
        f"mcp_servers:\n  time:\n    command: {sys.executable}\n    args: [-m, mcp_server_time]\n"
    )
    fake_llm.write_formation(tmp_path, extra=server)
    start()
    assert "get_current_time" in _same("mcp", "tools", "--json").stdout
    assert '"ready"' in _same("mcp", "list", "--json").stdout
    args = '{"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}'
    call = _same("mcp", "call", "time", "convert_time", "--json", args, "-o", "json")
    assert "Asia/Tokyo" in call.stdout
    bad = _same("mcp", "call", "time", "nope", "-o", "json")
    assert bad.returncode == 2
    [row] = statuses()
    assert row["mcp_servers"] == [{"name": "time", "state": "ready", "tools": 2}]
