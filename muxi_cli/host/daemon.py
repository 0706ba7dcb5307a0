"""The host process: ``python -m muxi_cli.host.daemon --id ID --config PATH|'' --cwd DIR``.

It opens the formation's LocalRuntime (MCP servers started), serves it on
``<id>.sock`` with the ordinary server (an admin key that exists only in memory
and in ``<id>.token``, no rate limit), writes its meta, says ``ready`` on
``--ready-fd`` and releases the spawn lock (``--lock-fd``). It stops by itself
for the reasons in :mod:`muxi_cli.host.watch`, drains on SIGTERM, and removes
only the files that are still its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import secrets
import sys
import time
import types
from pathlib import Path
from typing import Any

from muxi_cli import __version__
from muxi_cli.errors import MuxiError
from muxi_cli.host import key as hkey
from muxi_cli.host.meta import Meta, env_refs, env_refs_hash, read_meta, stamps, write_meta
from muxi_cli.host.paths import HostFiles, host_files
from muxi_cli.host.sources import formation_sources
from muxi_cli.host.spawn import LOG_LIMIT
from muxi_cli.host.watch import INTERVAL, SocketId, exit_reason, trim_log
from muxi_cli.paths import write_private
from muxi_cli.redact import RedactingFormatter

log = logging.getLogger("muxi.host")

#: Uploads and bodies a local user may send (the server's defaults are for the internet).
LOCAL_MAX_BODY = 64 * 1024 * 1024


#: Status reads (``muxi host status`` asks for the MCP servers): they keep no host alive.
_NOT_USE = frozenset({"mcp_servers", "health"})


class Tracked:
    """The served runtime, noting when it was last asked for anything (what idle means)."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self.last = time.monotonic()
        self.turns = 0

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._runtime, name)
        # Only the runtime's methods count as use; its objects (the event tap,
        # which is callable too) pass through as they are.
        if name.startswith("_") or not isinstance(value, types.MethodType):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            if name not in _NOT_USE:
                self.last = time.monotonic()
            if name == "chat":
                self.turns += 1
                log.info("turn %d started", self.turns)
            return value(*args, **kwargs)

        return call


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="muxi-host")
    p.add_argument("--id", required=True)
    p.add_argument("--config", default="")
    p.add_argument("--cwd", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--lock-fd", type=int)
    p.add_argument("--ready-fd", type=int)
    return p.parse_args(argv)


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)  # stderr is <id>.log (see spawn.py)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("muxi.host", "muxi.runtime", "muxi.tools"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _close_fd(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


class Host:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.files: HostFiles = host_files(args.id, Path(args.dir))
        self.formation = Path(args.config) if args.config else None
        self.cwd = Path(args.cwd)
        self.token = secrets.token_urlsafe(32)
        self.meta: Meta | None = None
        self.socket_id: SocketId | None = None
        self.server: list[Any] = []
        self.tracked: Tracked | None = None

    def check_key(self) -> str:
        key = hkey.host_key(self.formation, cwd=self.cwd)
        if hkey.host_id(key) != self.args.id:
            raise SystemExit(f"host id {self.args.id} does not match this environment's key")
        return key

    def build_meta(self, key: str) -> Meta:
        sources = formation_sources(self.formation)
        names = env_refs(p for p in sources if p.is_file())
        return Meta(
            id=self.args.id,
            key=key,
            pid=os.getpid(),
            version=__version__,
            formation=str(self.formation) if self.formation else None,
            cwd=str(self.cwd),
            started=time.time(),
            socket=str(self.files.socket),
            idle_timeout=hkey.idle_timeout(self.formation),
            sources=stamps(sources),
            env_refs=names,
            env_refs_hash=env_refs_hash(names),
        )

    def listening(self, *_: Any) -> None:
        """The socket listens: meta first (atomically), then ``ready``, then the lock."""
        assert self.meta is not None
        self.socket_id = SocketId.of(self.files.socket)
        write_meta(self.files.meta, self.meta)
        if self.args.ready_fd is not None:
            with contextlib.suppress(OSError):
                os.write(self.args.ready_fd, b"ready\n")
        _close_fd(self.args.ready_fd)
        _close_fd(self.args.lock_fd)
        with contextlib.suppress(OSError):
            self.files.failed.unlink()
        log.info("host %s ready (pid %d) on %s", self.args.id, os.getpid(), self.files.socket)

    async def watch(self) -> None:
        try:
            while True:  # a poll by design: files, folders and clocks have no event here
                await asyncio.sleep(INTERVAL)
                if await self._check():
                    return
        except Exception:  # a host that cannot watch itself must not live for ever
            log.exception("stopping: the watcher failed")
            if self.server:
                self.server[0].should_exit = True

    async def _check(self) -> bool:
        """One round of :mod:`muxi_cli.host.watch`; True once the host is told to stop."""
        trim_log(self.files.log, LOG_LIMIT, LOG_LIMIT // 4)
        if not self.server or self.meta is None or self.socket_id is None:
            return False
        server = self.server[0]
        running = server.config.app.state.ctx.registry.active
        assert self.tracked is not None
        if running:  # idle time counts from the end of the last turn
            self.tracked.last = time.monotonic()
        idle = time.monotonic() - self.tracked.last
        reason = exit_reason(self.meta, self.socket_id, idle, running)
        if reason is None:
            return False
        log.info("stopping: %s", reason)
        server.should_exit = True
        return True

    def cleanup(self) -> None:
        """Remove the files that are still this host's: a newer host's stay."""
        current = read_meta(self.files.meta)
        if current is not None and current.pid == os.getpid():
            with contextlib.suppress(OSError):
                self.files.meta.unlink()
        try:
            mine = self.files.token.read_text(encoding="ascii").strip() == self.token
        except OSError:
            mine = False
        if mine:
            with contextlib.suppress(OSError):
                self.files.token.unlink()
        if self.socket_id is not None and SocketId.of(self.files.socket) == self.socket_id:
            with contextlib.suppress(OSError):
                self.files.socket.unlink()

    def failed(self) -> None:
        """Clean up; a host that never got ready leaves a marker (see client.FAILED_PAUSE)."""
        self.cleanup()
        if self.meta is None or self.socket_id is None:
            with contextlib.suppress(OSError):
                write_private(self.files.failed, f"{time.time()}\n")

    async def run(self) -> int:
        from muxi_cli.runtime.local import LocalRuntime  # deferred: the engine (seconds)
        from muxi_cli.runtime.users import local_user_id
        from muxi_cli.server import logfilter
        from muxi_cli.server.context import ServerSettings
        from muxi_cli.server.serve import serve_runtime
        from muxi_cli.stores.server_keys import KeyStore

        key = self.check_key()
        os.chdir(self.cwd)
        logfilter.install(process_wide=True)
        # Stamped before loading: an edit made while it loads makes the host stale at once.
        meta = self.build_meta(key)
        runtime = await LocalRuntime.open(
            config_path=str(self.formation) if self.formation else None, start_tools=True
        )
        with contextlib.suppress(Exception):  # a failure recurs in the turn, which reports it
            await runtime.prepare()  # before it listens: the first command through it is fast too
        self.meta = meta
        self.tracked = Tracked(runtime)
        write_private(self.files.token, self.token)
        # The admin key lives only in memory and in <id>.token; the key file path is
        # never written (no key is created or used from it).
        keys = KeyStore(self.files.dir / f".{self.args.id}.keys.json", env_admin_key=self.token)
        # The local user, as in-process; the owner's own OAuth logins (docs/host.md).
        settings = ServerSettings(
            rate=0, max_body=LOCAL_MAX_BODY, admin_user=local_user_id(), admin_is_owner=True
        )
        with contextlib.suppress(FileNotFoundError):
            if self.files.socket.is_socket():
                self.files.socket.unlink()  # a stale host's (it exits when it sees this)
        watcher = asyncio.create_task(self.watch())
        try:
            await serve_runtime(
                self.tracked,
                keys,
                settings=settings,
                uds=self.files.socket,
                on_listening=self.listening,
                signals=True,
                server_ref=self.server,
            )
        finally:
            watcher.cancel()
            self.cleanup()
            await runtime.aclose()
            log.info("host %s stopped", self.args.id)
        return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    os.umask(0o077)  # every file and the socket: this user only
    _setup_logging()
    host = Host(args)
    try:
        return asyncio.run(host.run())
    except MuxiError as exc:  # a bad formation, a missing key: what the user must fix
        log.error(
            "host %s failed: %s", args.id, exc.message + (f" ({exc.hint})" if exc.hint else "")
        )
        host.failed()
        return 1
    except Exception:
        log.exception("host %s failed", args.id)
        host.failed()
        return 1


if __name__ == "__main__":
    sys.exit(main())
