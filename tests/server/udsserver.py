"""A real LocalRuntime served on a Unix socket, in a subprocess (tests of the local host path).

``python -m tests.server.udsserver --config C --socket S --keys K`` opens the
formation, serves it with ``serve_runtime(..., uds=S)`` and prints ``ready``
on stdout once the socket listens. :class:`UdsServer` runs it as a context
manager: started and waited for, stopped (SIGTERM, then SIGKILL) however the
block ends. Tests that must kill the server mid-turn use ``kill()``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from muxi_cli.stores.server_keys import KeyStore
from tests.server.serveproc import server_env

READY = "ready"


async def _serve(config: Path, sock: Path, keys_path: Path) -> None:
    from muxi_cli.runtime.local import LocalRuntime
    from muxi_cli.server.context import ServerSettings
    from muxi_cli.server.serve import serve_runtime

    runtime = await LocalRuntime.open(config_path=config, start_tools=True)

    def listening(port: int) -> None:
        print(READY, port, flush=True)

    try:
        await serve_runtime(
            runtime,
            KeyStore(keys_path),
            settings=ServerSettings(rate=0, shutdown_grace=2.0),
            on_listening=listening,
            uds=sock,
        )
    finally:
        await runtime.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--keys", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(_serve(args.config, args.socket, args.keys))


class UdsServer:
    """The subprocess above, with an admin and a user key made before it starts."""

    def __init__(self, home: Path, config: Path, sock: Path) -> None:
        self.home = home
        self.config = config
        self.socket = sock
        self.keys_path = home / "uds-keys.json"
        keys = KeyStore(self.keys_path)
        _, self.admin = keys.create("admin", "admin")
        _, self.user = keys.create("user", "alice")
        keys.flush()
        self.log_path = home / "uds-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> UdsServer:
        with open(self.log_path, "wb") as log:
            args = ["--config", str(self.config), "--socket", str(self.socket)]
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.server.udsserver",
                    *args,
                    "--keys",
                    str(self.keys_path),
                ],
                env=server_env(self.home),
                cwd=str(self.config.parent),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not sel.select(left):
                    break
                line = self.proc.stdout.readline().decode()
                if line.startswith(READY):
                    return
                if not line:  # stdout closed: the process ended
                    break
        raise AssertionError(f"the uds server was not ready in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the server dies mid-whatever, as a crashed host would."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return int(self.proc.returncode)

    def __enter__(self) -> UdsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()
