"""Run a real ``muxi serve`` subprocess on a free loopback port (tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.net import free_port

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
        PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
        XDG_DATA_HOME=str(home / "xdg-data"),
        NO_COLOR="1",
        COLUMNS="200",
    )
    env.update(extra)
    return env


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
        self.args = args
        self.env = server_env(home, **env)
        self.log_path = home / f"serve-{self.port}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServeProcess:
        import httpx

        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / f"serve-{self.port}-{time.monotonic_ns()}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [MUXI, "serve", "--port", str(self.port), "--config", str(self.config), *self.args],
                env=self.env,
                cwd=str(self.config.parent),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"muxi serve exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"muxi serve did not answer /health in {timeout} s:\n{self.log()}")

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
