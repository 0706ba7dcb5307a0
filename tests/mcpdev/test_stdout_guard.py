"""The stdout guard: JSON-RPC passes through, everything else is recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from muxi_cli.mcpdev.session import GUARD_SCRIPT
from muxi_cli.mcpdev.stdout_guard import is_protocol

CHILD = r"""
import sys
print("Server starting...", flush=True)
sys.stdout.write('{"jsonrpc": "2.0", "method": "hello"}\n'); sys.stdout.flush()
for line in sys.stdin:  # echo each request back as a response, plus some noise
    msg = __import__("json").loads(line)
    print("debug: got", msg["id"], flush=True)
    sys.stdout.write(__import__("json").dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {}}) + "\n")
    sys.stdout.flush()
sys.stderr.write("child: bye\n")
sys.stdout.write("no newline at the end")
sys.exit(5)
"""


def test_is_protocol() -> None:
    assert is_protocol(b'{"jsonrpc": "2.0", "id": 1, "result": {}}\n')
    assert is_protocol(b'[{"jsonrpc": "2.0", "method": "x"}]')
    assert not is_protocol(b"hello\n")
    assert not is_protocol(b"\n")
    assert not is_protocol(b'{"jsonrpc": "1.0"}')
    assert not is_protocol(b'{"json": "rpc", "jsonrpc": 2}')
    assert not is_protocol(b"{jsonrpc")


def test_guard_separates_protocol_from_noise(tmp_path: Path) -> None:
    report = tmp_path / "noise.txt"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    requests = "".join(
        json.dumps({"jsonrpc": "2.0", "id": i, "method": "ping"}) + "\n" for i in (1, 2)
    )
    done = subprocess.run(
        [sys.executable, str(GUARD_SCRIPT), str(report), "--", sys.executable, str(script)],
        input=requests.encode(),
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 5, done.stderr  # the server's exit status
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert lines[0] == {"jsonrpc": "2.0", "method": "hello"}
    assert [m.get("id") for m in lines[1:]] == [1, 2]
    assert b"child: bye" in done.stderr  # stderr is passed through untouched
    noise = report.read_text().splitlines()
    assert noise == ["Server starting...", "debug: got 1", "debug: got 2", "no newline at the end"]


def test_guard_reports_a_missing_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(GUARD_SCRIPT), str(tmp_path / "r"), "--", str(tmp_path / "nope")],
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 127 and b"cannot start" in done.stderr
    usage = subprocess.run([sys.executable, str(GUARD_SCRIPT)], capture_output=True, timeout=30)
    assert usage.returncode == 2
