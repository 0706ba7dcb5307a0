"""Run a real ``muxi web`` on 127.0.0.1:0 and read its one-time link from its output.

Ready means the link line is in its log: ``muxi web`` prints it only once the
socket is bound, so the port in it accepts connections already.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from tests import procs
from tests.server.serveproc import server_env

#: What ``muxi web`` prints once it listens.
LINK = re.compile(r"muxi web: open (http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+))")


class WebProcess:
    """``muxi [global options] web --port 0`` with its stderr in a file."""

    def __init__(self, home: Path, *global_args: str, args: tuple[str, ...] = ()) -> None:
        self.home = home
        self.command = [sys.executable, "-m", "muxi_cli", *global_args, "web", "--port", "0", *args]
        self.env = server_env(home)
        self.log_path = home / f"web-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.link = self.base = self.token = ""

    def start(self, timeout: float = 60.0) -> WebProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=str(self.home),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = LINK.search(self.log())
            if found:
                self.link, port, self.token = found.groups()
                self.base = f"http://127.0.0.1:{port}"
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"muxi web exited early:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"muxi web printed no link in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (stops every chat app it runs), then wait; SIGKILL if it hangs."""
        if self.proc is None:
            return 0
        return int(procs.stop(self.proc, timeout) or 0)

    def __enter__(self) -> WebProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
