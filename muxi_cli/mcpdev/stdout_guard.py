"""Run a stdio MCP server and keep non-protocol text off its stdout.

Why this exists: a stdio server's stdout *is* the protocol stream, and a stray
``print()`` there breaks clients in ways that are hard to trace (the SDK logs a
parse error and carries on; other clients disconnect). To report exactly what
a server printed, ``muxi mcp validate`` starts the server through this small
proxy instead of directly::

    python stdout_guard.py REPORT_FILE -- COMMAND [ARGS...]

The proxy copies its stdin to the server unchanged, passes every stdout line
that is a JSON-RPC message through, and appends every other line (truncated)
to ``REPORT_FILE``. The server's stderr is inherited. When the server exits,
the proxy exits with its status; when its stdin closes, the server's stdin is
closed too.

This file is run as a script by path, so it uses the standard library only
and imports nothing from muxi.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import IO

MAX_LINES = 1000
MAX_LINE_BYTES = 500


def is_protocol(line: bytes) -> bool:
    """True for a JSON-RPC 2.0 message (or batch) on one line."""
    text = line.strip()
    if not text.startswith((b"{", b"[")) or b"jsonrpc" not in text:
        return False
    try:
        value = json.loads(text)
    except ValueError:
        return False
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, dict) and v.get("jsonrpc") == "2.0" for v in value)
    return isinstance(value, dict) and value.get("jsonrpc") == "2.0"


def _pump_stdin(child_stdin: IO[bytes]) -> None:
    fd = sys.stdin.fileno()
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            child_stdin.write(chunk)
            child_stdin.flush()
    except OSError:
        pass
    finally:
        try:
            child_stdin.close()
        except OSError:
            pass


def _record(report: IO[bytes], line: bytes, count: int) -> None:
    if count > MAX_LINES:
        return
    body = line.rstrip(b"\r\n")
    if len(body) > MAX_LINE_BYTES:
        body = body[:MAX_LINE_BYTES] + b"..."
    report.write(body.replace(b"\n", b" ") + b"\n")
    report.flush()


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: stdout_guard.py REPORT_FILE -- COMMAND [ARGS...]\n")
        return 2
    report_path, command = argv[0], argv[2:]
    try:
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    except OSError as exc:
        sys.stderr.write(f"cannot start {command[0]}: {exc.strerror or exc}\n")
        return 127
    assert child.stdin is not None and child.stdout is not None
    threading.Thread(target=_pump_stdin, args=(child.stdin,), daemon=True).start()
    out = sys.stdout.buffer
    count = 0
    with open(report_path, "ab") as report:
        for line in iter(child.stdout.readline, b""):
            if is_protocol(line):
                try:
                    out.write(line if line.endswith(b"\n") else line + b"\n")
                    out.flush()
                except OSError:  # the client went away
                    break
            else:
                count += 1
                _record(report, line, count)
    try:
        return child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
