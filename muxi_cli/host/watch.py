"""Why a running host should stop by itself (checked every couple of seconds).

Plain functions over the meta and a few ``stat`` calls, so tests can check each
rule without a daemon.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from muxi_cli.host.meta import Meta, changed_sources

#: Seconds between two checks.
INTERVAL = 2.0


@dataclass(frozen=True, slots=True)
class SocketId:
    dev: int
    ino: int

    @classmethod
    def of(cls, path: Path) -> SocketId | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return cls(st.st_dev, st.st_ino)


def socket_gone(meta: Meta, ours: SocketId) -> str | None:
    now = SocketId.of(Path(meta.socket))
    if now is None:
        return "its socket file was deleted"
    if now != ours:
        return "its socket file was replaced"
    return None


def folder_gone(meta: Meta) -> str | None:
    folder = Path(meta.formation).parent if meta.formation else Path(meta.cwd)
    return None if folder.is_dir() else f"the formation's folder {folder} is gone"


def sources_changed(meta: Meta) -> str | None:
    changed = changed_sources(meta.sources)
    return f"{changed[0]} changed or was removed" if changed else None


def idle_for(meta: Meta, idle_seconds: float, running_turns: int) -> str | None:
    if running_turns == 0 and idle_seconds >= meta.idle_timeout:
        return f"idle for {idle_seconds:.0f} s (idle timeout {meta.idle_timeout:g} s)"
    return None


def exit_reason(meta: Meta, ours: SocketId, idle_seconds: float, running_turns: int) -> str | None:
    """The first reason to stop, or None to keep serving."""
    return (
        socket_gone(meta, ours)
        or folder_gone(meta)
        or sources_changed(meta)
        or idle_for(meta, idle_seconds, running_turns)
    )


def trim_log(path: Path, limit: int, keep: int) -> None:
    """Cut the log at ``path`` to its last ``keep`` bytes once it passes ``limit``
    (the daemon writes with O_APPEND, so writes after the cut land at the new end)."""
    try:
        if os.path.getsize(path) <= limit:
            return
        with open(path, "r+b") as fh:
            fh.seek(-keep, os.SEEK_END)
            tail = fh.read()
            cut = tail.find(b"\n")
            tail = tail[cut + 1 :] if cut >= 0 else tail
            fh.seek(0)
            fh.truncate()
            fh.write(tail)
    except OSError:
        pass
