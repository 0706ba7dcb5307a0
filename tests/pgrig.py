"""A throwaway PostgreSQL server for the tests: ``initdb`` in a temp dir, on a free port.

The server binaries come from PATH or the distribution's folder
(``/usr/lib/postgresql/N/bin``); ``scripts/os-packages`` installs them where
they are missing. PostgreSQL refuses to run as root, so as root (CI) the
cluster belongs to ``nobody`` and its processes run as that user.

The server is tuned for tests, not durability (no fsync); each test gets an
empty database of its own (:meth:`PgServer.create_database`).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

_names = itertools.count(1)


def pg_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``, or None when they are not installed."""
    found = shutil.which("initdb")
    if found and Path(found).with_name("postgres").exists():
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "postgres").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_user() -> dict[str, object]:
    """Popen arguments that run the server as ``nobody`` when we are root."""
    if os.getuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


@dataclass
class PgServer:
    """One running cluster; :meth:`stop` ends it and removes its files."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    databases: list[str] = field(default_factory=list)

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, timeout: float = 60.0) -> PgServer:
        bindir = pg_bin_dir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (scripts/os-packages)")
        # Not under pytest's tmp dirs: those are root-only (0700), and the server runs as nobody.
        root = Path(tempfile.mkdtemp(prefix="muxi-pg-"))
        user = _as_user()
        if user:
            os.chown(root, int(user["user"]), int(user["group"]))  # type: ignore[call-overload]
        data = root / "data"
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
             "-E", "UTF8", "--no-sync", "--no-instructions"],
            check=True, capture_output=True, env=env, cwd=root, **user,  # type: ignore[call-overload]
        )  # fmt: skip
        port = _free_port()
        log = root / "server.log"
        with open(log, "wb") as out:
            if user:
                os.chown(log, int(user["user"]), int(user["group"]))  # type: ignore[call-overload]
            process = subprocess.Popen(  # type: ignore[call-overload]
                [str(bindir / "postgres"), "-D", str(data), "-p", str(port),
                 "-k", str(root), "-c", "listen_addresses=127.0.0.1",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=300",
                 "-c", "shared_buffers=32MB"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, **user,
            )  # fmt: skip
        server = cls(root, port, process, log)
        try:
            server._wait_ready(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout: float) -> None:
        import psycopg  # deferred: only the PostgreSQL tests need the driver

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log.read_text(errors='replace')}")
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
            # The server is starting; ask again shortly (bounded by the deadline).
            time.sleep(0.05)

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg  # deferred: only the PostgreSQL tests need the driver

        name = f"t{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg  # deferred: only the PostgreSQL tests need the driver

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(ValueError):
            self.databases.remove(name)

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGINT: the fast shutdown, which ends open client connections too.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
