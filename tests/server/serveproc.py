"""Run a real ``muxi serve`` subprocess on a free loopback port (tests, benchmarks).

Use it as a context manager (``with ServeProcess(home, config) as proc:``) so
the server is stopped however the block ends. It counts as ready once
``/health`` answers *and* its log has the "listening on" line, which
``muxi serve`` prints after the first-start key panel: a test can read the
keys from ``proc.log()`` at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.net import free_port

ROOT = Path(__file__).resolve().parents[2]
MUXI = str(Path(sys.executable).with_name("muxi"))
_DROP = (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
    "MUXI_PROFILE",
    "MUXI_CONFIG",
    "MUXI_API_KEY",
    "MUXI_ADMIN_KEY",
)


def server_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(
        MUXI_HOME=str(home),
        MUXI_NO_OLLAMA_PROBE="1",
        LANCEDB_LOG="error",
        # The suite's file keyring (tests/keyring_backend.py), importable from the checkout.
        PYTHON_KEYRING_BACKEND="tests.keyring_backend.FileKeyring",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        XDG_DATA_HOME=str(home / "xdg-data"),
        NO_COLOR="1",
        COLUMNS="200",
    )
    env.update(extra)
    return env


#: What ``muxi serve`` prints once it listens (after any new-keys panel).
READY_LINE = "muxi serve: listening on"


class ServeProcess:
    """``muxi serve --port P --config C`` with its stderr in a file."""

    def __init__(
        self,
        home: Path,
        config: Path,
        port: int | None = None,
        args: tuple[str, ...] = (),
        **env: str,
    ) -> None:
        self.home = home
        self.config = config
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        #: A port picked here may be taken by another process before the server
        #: binds it (free_port closes its probe socket): the first start then
        #: tries another one. A caller's port, and a restart's, are kept.
        self._may_move = port is None
        self.args = args
        self.env = server_env(home, **env)
        self.log_path = home / f"serve-{self.port}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        #: The program run with ``--port P --config C ARGS`` (a test may use a stand-in).
        self.command: list[str] = [MUXI, "serve"]

    def start(self, timeout: float = 60.0) -> ServeProcess:
        """Start and wait until ready (see the module docstring); stopped again on any failure."""
        for attempt in range(3):
            try:
                return self._start(timeout)
            except AssertionError as exc:
                if (
                    not self._may_move
                    or attempt == 2
                    or "address already in use" not in str(exc).lower()
                ):
                    raise
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> ServeProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / f"serve-{self.port}-{time.monotonic_ns()}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [*self.command, "--port", str(self.port), "--config", str(self.config), *self.args],
                env=self.env,
                cwd=str(self.config.parent),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self._may_move = False  # started once: a restart must come back on this port
        return self

    def _wait_ready(self, timeout: float) -> None:
        import httpx

        assert self.proc is not None
        deadline = time.monotonic() + timeout
        healthy = False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"muxi serve exited early:\n{self.log()}")
            if not healthy:
                try:
                    healthy = httpx.get(self.url + "/health", timeout=1.0).status_code == 200
                except httpx.HTTPError:
                    pass
            if healthy and READY_LINE in self.log():
                return
            time.sleep(0.05)
        raise AssertionError(
            f"muxi serve was not ready (/health and {READY_LINE!r}) in {timeout} s:\n{self.log()}"
        )

    def __enter__(self) -> ServeProcess:
        return self if self.running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful shutdown), then wait; returns the exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)
