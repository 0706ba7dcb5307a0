"""The ``ServeProcess`` helper: ready only once the key panel is printed, always stopped.

A stand-in server answers ``/health`` at once but prints its "listening on"
line (which ``muxi serve`` prints after the first-start key panel) only later,
as a loaded machine can: a test reading the keys right after ``start()`` must
find them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.server.serveproc import READY_LINE, ServeProcess

_SLOW_PANEL = f"""
import sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port = int(sys.argv[sys.argv.index("--port") + 1])

class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", port), Health)
threading.Thread(target=server.serve_forever, daemon=True).start()
time.sleep(float(sys.argv[-1]))  # /health answers while the panel is not printed yet
print("admin key: muxi_0123456789_panel", file=sys.stderr, flush=True)
print("{READY_LINE} http://127.0.0.1:" + str(port), file=sys.stderr, flush=True)
threading.Event().wait()
"""


def _stand_in(tmp_path: Path, delay: float) -> ServeProcess:
    config = tmp_path / "muxi.yaml"
    config.write_text("agents: [{name: a}]\n")
    proc = ServeProcess(tmp_path / "home", config, args=(str(delay),))
    proc.command = [sys.executable, "-c", _SLOW_PANEL]
    return proc


def test_ready_means_the_key_panel_is_in_the_log(tmp_path: Path) -> None:
    with _stand_in(tmp_path, delay=1.5) as proc:
        assert "muxi_0123456789_panel" in proc.log()
    assert proc.proc is not None and proc.proc.poll() is not None


def test_the_server_is_stopped_when_the_block_fails(tmp_path: Path) -> None:
    server = _stand_in(tmp_path, delay=0)
    with pytest.raises(RuntimeError, match="boom"), server:
        raise RuntimeError("boom")
    assert server.proc is not None and server.proc.poll() is not None


def test_a_server_that_never_gets_ready_is_stopped(tmp_path: Path) -> None:
    server = _stand_in(tmp_path, delay=600)
    with pytest.raises(AssertionError, match="was not ready"):
        server.start(timeout=2)
    assert server.proc is not None and server.proc.poll() is not None


def test_a_port_taken_before_the_server_binds_it_is_traded_for_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """free_port() closes its probe socket, so another process may bind the port
    before the server does (a CI run lost a whole module of tests to it): the first
    start then tries a new port. A port the caller chose is kept, and fails."""
    import socket

    from tests.net import free_port
    from tests.server import serveproc

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    picks = iter([busy])
    monkeypatch.setattr(serveproc, "free_port", lambda: next(picks, None) or free_port())
    try:
        with _stand_in(tmp_path, 0.0) as proc:
            assert proc.port != busy and proc.url.endswith(f":{proc.port}")
        fixed = _stand_in(tmp_path, 0.0)
        fixed.port, fixed._may_move = busy, False
        with pytest.raises(AssertionError, match="exited early"):
            fixed.start()
    finally:
        taken.close()
