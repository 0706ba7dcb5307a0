"""A host's meta file (``<id>.json``): who it is and what it was built from.

The daemon writes it atomically once its socket listens, before it says ready;
clients read it to find the host and to check it is still fresh: the files the
formation was loaded from are unchanged (path, mtime_ns, size) and the
variables the formation references (``${VAR}``) still have the same values.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from muxi_cli.paths import write_private

#: ``${NAME}`` or ``${NAME:-default}``, not the literal ``$${...}``.
_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")

Source = tuple[str, int, int]


@dataclass(slots=True)
class Meta:
    id: str
    key: str
    pid: int
    version: str
    formation: str | None
    cwd: str
    started: float
    socket: str
    idle_timeout: float
    sources: list[Source] = field(default_factory=list)
    env_refs: list[str] = field(default_factory=list)
    env_refs_hash: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Meta:
        return cls(
            id=str(data["id"]),
            key=str(data["key"]),
            pid=int(data["pid"]),
            version=str(data["version"]),
            formation=data.get("formation"),
            cwd=str(data["cwd"]),
            started=float(data["started"]),
            socket=str(data["socket"]),
            idle_timeout=float(data["idle_timeout"]),
            sources=[(str(p), int(m), int(s)) for p, m, s in data.get("sources", [])],
            env_refs=[str(n) for n in data.get("env_refs", [])],
            env_refs_hash=str(data.get("env_refs_hash", "")),
        )


def read_meta(path: Path) -> Meta | None:
    """The meta at ``path``; None when missing or unreadable."""
    try:
        return Meta.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_meta(path: Path, meta: Meta) -> None:
    write_private(path, meta.to_json())


def stamp(path: Path) -> Source:
    """``(path, mtime_ns, size)``; a missing file is ``(path, -1, -1)``."""
    try:
        st = os.stat(path)
    except OSError:
        return (str(path), -1, -1)
    return (str(path), st.st_mtime_ns, st.st_size)


def stamps(files: Iterable[Path]) -> list[Source]:
    return [stamp(p) for p in files]


def changed_sources(sources: Iterable[Source]) -> list[str]:
    """The sources whose stamp differs from now (changed, replaced or gone)."""
    return [path for path, mtime, size in sources if stamp(Path(path)) != (path, mtime, size)]


def env_refs(files: Iterable[Path]) -> list[str]:
    """The variable names the files reference as ``${NAME}``."""
    names: set[str] = set()
    for path in files:
        try:
            names.update(_REF.findall(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return sorted(names)


def env_refs_hash(names: Iterable[str], environ: Mapping[str, str] | None = None) -> str:
    """A hash of the names and values (unset differs from empty)."""
    env = os.environ if environ is None else environ
    doc = [[n, env.get(n)] for n in sorted(names)]
    return hashlib.sha256(json.dumps(doc, separators=(",", ":")).encode()).hexdigest()


def stale_reason(meta: Meta, environ: Mapping[str, str] | None = None) -> str | None:
    """Why the host of ``meta`` no longer matches the files and environment; None if fresh."""
    changed = changed_sources(meta.sources)
    if changed:
        return f"{changed[0]} changed"
    if env_refs_hash(meta.env_refs, environ) != meta.env_refs_hash:
        return "a variable the formation references changed"
    return None


def pid_is_host(pid: int, host_id: str) -> bool:
    """Whether ``pid`` is alive, runs as this user and is the daemon of ``host_id``
    (its command line names it): a reused pid, even one whose command line looks
    like a host's, is never signalled (root may signal anyone)."""
    try:
        fd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:  # the command line read through the same /proc entry whose owner was checked
        if os.fstat(fd).st_uid != os.getuid():
            return False
        cmdline = os.open("cmdline", os.O_RDONLY, dir_fd=fd)
        try:
            argv = os.read(cmdline, 65536).split(b"\0")
        finally:
            os.close(cmdline)
    except OSError:
        return False
    finally:
        os.close(fd)
    return host_id.encode() in argv and any(b"muxi_cli.host.daemon" in a for a in argv)


def rss_bytes(pid: int) -> int | None:
    """Resident memory of ``pid`` from /proc (None when unknown)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
