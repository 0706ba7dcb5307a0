"""Finding, starting and stopping hosts: what the CLI calls (docs/host.md).

Nothing here imports the engine, the server, the SDKs or pydantic (an
import-linter contract checks it): a command that finds its host pays only for
reading a small JSON file and a few ``stat`` calls.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muxi_cli import parts
from muxi_cli.errors import MuxiError
from muxi_cli.host import key as hkey
from muxi_cli.host.meta import Meta, pid_is_host, read_meta, rss_bytes, stale_reason
from muxi_cli.host.paths import HostFiles, HostUnavailable, host_files, host_ids, runtime_dir
from muxi_cli.host.spawn import spawn, spawn_lock

log = logging.getLogger("muxi.host")


@dataclass(frozen=True, slots=True)
class HostAddress:
    id: str
    socket: Path
    token: str
    pid: int


@dataclass(frozen=True, slots=True)
class _Target:
    """The host a command of this directory and environment would use."""

    formation: Path | None
    cwd: Path
    key: str
    files: HostFiles


def _target(config: str | None, environ: Mapping[str, str] | None = None) -> _Target:
    here = Path.cwd()
    formation = hkey.resolve_config(config, here)
    key = hkey.host_key(formation, cwd=here, environ=environ)
    cwd = formation.parent if formation is not None else here
    return _Target(formation, cwd, key, host_files(hkey.host_id(key)))


def host_enabled(config: str | None) -> bool:
    """``MUXI_HOST`` is not off and the formation does not say ``host: {enabled: false}``."""
    if hkey.switched_off_by_env():
        return False
    if not parts.has("local"):
        # A remote-client install cannot run agents here, in a host or not: the
        # command then says which extra it needs (LocalRuntime.open).
        return False
    try:
        return hkey.enabled(hkey.resolve_config(config))
    except (OSError, ValueError):
        return False


def _read_token(files: HostFiles) -> str | None:
    try:
        token = files.token.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None


Notice = Callable[[str], None]


def _quiet(message: str) -> None:
    log.debug("%s", message)


def _usable(files: HostFiles, key: str, notice: Notice = _quiet) -> HostAddress | None:
    """The host of ``files`` if it runs, listens and is fresh; a stale one is told to drain."""
    meta = read_meta(files.meta)
    if meta is None or meta.key != key or not pid_is_host(meta.pid, meta.id):
        notice("no warm host for this formation yet: running in this process")
        return None
    sock = Path(meta.socket)
    if not sock.is_socket():
        notice(f"host {meta.id} lost its socket: running in this process")
        return None  # the host notices within 2 s and exits
    reason = stale_reason(meta)
    if reason is not None:
        notice(f"host {meta.id} is out of date ({reason}): running in this process")
        _signal(meta, signal.SIGTERM)
        return None
    token = _read_token(files)
    if token is None:
        notice(f"host {meta.id} has no token file: running in this process")
        return None
    return HostAddress(meta.id, sock, token, meta.pid)


def find_host(config: str | None, *, notice: Notice = _quiet) -> HostAddress | None:
    """The ready, fresh host for this formation and environment, or None. Never raises.

    ``notice`` is told, in one line, why there is none."""
    try:
        target = _target(config)
        return _usable(target.files, target.key, notice)
    except Exception as exc:  # a host is an optimisation: any trouble means "none"
        notice(f"the warm host is not used ({exc}): running in this process")
        return None


#: After a failed start, background starts pause this long unless the formation changes.
FAILED_PAUSE = 300.0


def _recently_failed(target: _Target) -> bool:
    try:
        failed = target.files.failed.stat().st_mtime
    except OSError:
        return False
    if time.time() - failed > FAILED_PAUSE:
        return False
    try:
        return target.formation is None or target.formation.stat().st_mtime <= failed
    except OSError:
        return True


def start_in_background(config: str | None, *, environ: Mapping[str, str] | None = None) -> None:
    """Start this formation's host detached, unless one runs or is being started
    (or one failed to start a moment ago and the formation did not change since).

    Returns at once and never raises: the daemon keeps the spawn lock until it
    listens, so concurrent callers start one host between them. ``environ``: the
    environment the command started with (the host gets that one, not what the
    command may have set since)."""
    try:
        target = _target(config, environ)
        if _recently_failed(target):
            return
        with spawn_lock(target.files) as fd:
            if fd is None or _usable(target.files, target.key) is not None:
                return
            spawn(target.files, target.formation, target.cwd, lock_fd=fd, environ=environ)
    except Exception as exc:
        log.debug("could not start a host: %s", exc)


def _log_tail(files: HostFiles, lines: int = 5) -> str:
    try:
        text = files.log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def start_host(config: str | None, *, timeout: float = 30.0) -> HostAddress:
    """Start this formation's host (or find it) and wait until it is ready."""
    if hkey.switched_off_by_env():
        raise HostUnavailable("hosts are switched off (MUXI_HOST=off)", hint="unset MUXI_HOST")
    target = _target(config)
    if not hkey.enabled(target.formation):
        raise HostUnavailable(
            f"{target.formation} switches the host off (host: enabled: false)",
            hint="remove that key or set it to true",
        )
    deadline = time.monotonic() + timeout
    with spawn_lock(target.files, wait=timeout) as fd:
        if fd is None:
            raise HostUnavailable(
                f"another muxi is still starting host {target.files.id}",
                hint="try again in a moment; `muxi host logs` shows its log",
            )
        found = _usable(target.files, target.key)
        if found is not None:
            return found
        read_end, write_end = os.pipe()
        try:
            proc = spawn(target.files, target.formation, target.cwd, lock_fd=fd, ready_fd=write_end)
            os.close(write_end)
            write_end = -1
            said = b""
            ended = False
            while b"\n" not in said:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([read_end], [], [], left)[0]:
                    break
                chunk = os.read(read_end, 64)
                if not chunk:
                    ended = True  # the daemon exited before it was ready
                    break
                said += chunk
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
        if said.startswith(b"ready"):
            found = _usable(target.files, target.key)
            if found is not None:
                return found
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    tail = _log_tail(target.files)
    raise HostUnavailable(
        "the host failed to start" if ended else f"the host did not start within {timeout:g} s",
        hint=(tail + "\n" if tail else "") + f"its log: {target.files.log}",
    )


# --------------------------------------------------------------------------- stopping


def _signal(meta: Meta, sig: int) -> bool:
    """Send ``sig`` to the host of ``meta`` if that pid still is that host."""
    if not pid_is_host(meta.pid, meta.id):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(meta.pid, sig)
        return True
    return False


def _wait_gone(pid: int, host_id: str, timeout: float) -> bool:
    """Wait until ``pid`` is no longer host ``host_id``; True when it is gone."""
    deadline = time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        pidfd = -1
    try:
        while pid_is_host(pid, host_id):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if pidfd >= 0:
                select.select([pidfd], [], [], left)
                # readable = exited; a zombie still shows its cmdline until reaped
                if select.select([pidfd], [], [], 0)[0]:
                    return True
            else:
                time.sleep(min(0.05, left))
    finally:
        if pidfd >= 0:
            os.close(pidfd)
    return True


def _remove_leftovers(files: HostFiles, meta: Meta) -> None:
    """Files of a host that died without cleaning up (SIGKILL, power loss)."""
    current = read_meta(files.meta)
    if current is not None and current.pid != meta.pid:
        return  # a newer host took over this id
    for path in (files.meta, files.token, Path(meta.socket)):
        with contextlib.suppress(OSError):
            path.unlink()


def _metas(directory: Path) -> list[tuple[HostFiles, Meta]]:
    out = []
    for hid in host_ids(directory):
        files = host_files(hid, directory)
        meta = read_meta(files.meta)
        if meta is not None:
            out.append((files, meta))
    return out


def stop_hosts(*, config: str | None = None, all_hosts: bool = False, wait: float = 10.0) -> int:
    """Stop (drain) this formation's hosts, or every host; returns how many were running.

    ``wait`` 0 only signals them. A host still running after ``wait`` is killed."""
    try:
        directory = runtime_dir()
        mine = None if all_hosts else _formation_of(config)
    except (HostUnavailable, OSError):
        return 0
    chosen = [
        (files, meta)
        for files, meta in _metas(directory)
        if mine is None or _same_formation(meta, mine)
    ]
    stopped = [(f, m) for f, m in chosen if _signal(m, signal.SIGTERM)]
    for files, meta in chosen:
        if (files, meta) not in stopped:
            _remove_leftovers(files, meta)
    if wait > 0:
        for files, meta in stopped:
            if not _wait_gone(meta.pid, meta.id, wait) and _signal(meta, signal.SIGKILL):
                _wait_gone(meta.pid, meta.id, 5.0)
                _remove_leftovers(files, meta)
    return len(stopped)


def _same_formation(meta: Meta, mine: tuple[str | None, str]) -> bool:
    if mine[0] is not None:
        return meta.formation == mine[0]
    return meta.formation is None and meta.cwd == mine[1]


def _formation_of(config: str | None) -> tuple[str | None, str]:
    here = Path.cwd()
    formation = hkey.resolve_config(config, here)
    if formation is None:
        return (None, str(here))
    return (str(formation), str(formation.parent))


# --------------------------------------------------------------------------- status


def ask_host(socket_path: Path, token: str, path: str, timeout: float = 5.0) -> Any:
    """GET ``path`` from a host over its socket with the standard library (JSON)."""
    import http.client  # deferred: only `muxi host status` asks this way
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            self.sock = sock

    conn = Conn("muxi-host", timeout=timeout)
    try:
        conn.request("GET", path, headers={"authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise MuxiError(f"the host answered {resp.status} for {path}")
        return json.loads(body)
    finally:
        conn.close()


def host_statuses() -> list[dict[str, Any]]:
    """Every running host of this user: id, formation, uptime, memory, MCP servers."""
    try:
        directory = runtime_dir()
    except HostUnavailable:
        return []
    out = []
    for files, meta in _metas(directory):
        if not pid_is_host(meta.pid, meta.id):
            _remove_leftovers(files, meta)
            continue
        row: dict[str, Any] = {
            "id": meta.id,
            "pid": meta.pid,
            "formation": meta.formation or f"built-in ({meta.cwd})",
            "version": meta.version,
            "uptime_s": round(max(0.0, time.time() - meta.started), 1),
            "rss_bytes": rss_bytes(meta.pid),
            "idle_timeout_s": meta.idle_timeout,
            "socket": meta.socket,
            "stale": stale_reason(meta),
            "mcp_servers": None,
        }
        token = _read_token(files)
        if token is not None:
            try:
                servers = ask_host(Path(meta.socket), token, "/v1/mcp/servers")
                row["mcp_servers"] = [
                    {"name": s.get("name"), "state": s.get("state"), "tools": s.get("tool_count")}
                    for s in servers
                    if isinstance(s, dict)
                ]
            except (OSError, ValueError, MuxiError) as exc:
                row["error"] = str(exc)
        out.append(row)
    return out


def host_log(config: str | None) -> Path:
    """The log file of this formation's host (for this environment)."""
    return _target(config).files.log
