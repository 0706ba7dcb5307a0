"""Starting a host process: one spawner at a time per host id.

The spawner holds ``<id>.lock`` (``flock``) and hands the locked file to the
daemon, which keeps it until its socket listens (or it dies, which releases it):
eight clients that miss the host at once start exactly one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from muxi_cli.host.paths import HostFiles

#: The log of a host stays below this size (the daemon trims it to its tail).
LOG_LIMIT = 1024 * 1024


@contextlib.contextmanager
def spawn_lock(files: HostFiles, *, wait: float = 0.0) -> Iterator[int | None]:
    """The locked lock file's descriptor, or None when another spawner holds it
    past ``wait`` seconds. Closed (unlocked, unless handed on) at the end."""
    fd = os.open(files.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield None
                    return
                time.sleep(0.05)  # another client is starting this host; it says when
        yield fd
    finally:
        os.close(fd)


def daemon_argv(
    files: HostFiles,
    formation: Path | None,
    cwd: Path,
    *,
    lock_fd: int | None = None,
    ready_fd: int | None = None,
) -> list[str]:
    argv = [sys.executable, "-m", "muxi_cli.host.daemon", "--id", files.id]
    argv += ["--config", str(formation or ""), "--cwd", str(cwd), "--dir", str(files.dir)]
    if lock_fd is not None:
        argv += ["--lock-fd", str(lock_fd)]
    if ready_fd is not None:
        argv += ["--ready-fd", str(ready_fd)]
    return argv


def spawn(
    files: HostFiles,
    formation: Path | None,
    cwd: Path,
    *,
    lock_fd: int,
    ready_fd: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start the daemon detached (own session, no terminal); it inherits our environment."""
    log = os.open(files.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    keep = tuple(fd for fd in (lock_fd, ready_fd) if fd is not None)
    try:
        return subprocess.Popen(
            daemon_argv(files, formation, cwd, lock_fd=lock_fd, ready_fd=ready_fd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=cwd,
            env=None if environ is None else dict(environ),
            start_new_session=True,
            close_fds=True,
            pass_fds=keep,
        )
    finally:
        os.close(log)
