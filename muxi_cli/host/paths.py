"""Where hosts keep their files: one private runtime directory per OS user.

``$MUXI_RUNTIME_DIR`` if set, else ``$XDG_RUNTIME_DIR/muxi`` when that folder is
ours and others cannot write to it, else ``/tmp/muxi-<uid>``. The folder is
created 0700 and refused when it is a symlink, owned by another uid, or open to
the group or others: anyone who can write there could put a socket of their own
in our host's place.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from muxi_cli.errors import MuxiError

#: ``sun_path`` holds 108 bytes on Linux (104 on macOS); stay well below.
MAX_SOCKET_PATH = 100


class HostUnavailable(MuxiError):
    """A host cannot be used here (unsafe runtime directory, failed start, ...)."""

    code = "host_unavailable"


def _checked(path: Path) -> Path:
    """``path`` created 0700 if missing; raises HostUnavailable if it is not safe."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise HostUnavailable(f"cannot create the runtime folder {path}: {exc}") from None
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise HostUnavailable(f"cannot read the runtime folder {path}: {exc}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise HostUnavailable(f"the runtime folder {path} is a symlink or not a folder")
    if st.st_uid != os.getuid():
        raise HostUnavailable(f"the runtime folder {path} belongs to uid {st.st_uid}, not to us")
    if st.st_mode & 0o077:
        raise HostUnavailable(
            f"the runtime folder {path} is open to other users "
            f"(mode {stat.S_IMODE(st.st_mode):04o}, needs 0700)"
        )
    return path


def _fallback() -> Path:
    return Path(f"/tmp/muxi-{os.getuid()}")


def runtime_dir() -> Path:
    """The checked runtime folder (created if missing); raises HostUnavailable."""
    explicit = os.environ.get("MUXI_RUNTIME_DIR")
    if explicit:
        return _checked(Path(explicit))
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        try:
            st = os.stat(xdg)
            # others may not write there (unless sticky): they could swap our folder
            shared = st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX
            ours = st.st_uid == os.getuid() and stat.S_ISDIR(st.st_mode) and not shared
        except OSError:
            ours = False
        if ours:
            return _checked(Path(xdg) / "muxi")
    return _checked(_fallback())


@dataclass(frozen=True, slots=True)
class HostFiles:
    """The files of one host, all in the runtime folder (the socket maybe elsewhere)."""

    id: str
    dir: Path
    socket: Path

    @property
    def meta(self) -> Path:
        return self.dir / f"{self.id}.json"

    @property
    def token(self) -> Path:
        return self.dir / f"{self.id}.token"

    @property
    def log(self) -> Path:
        return self.dir / f"{self.id}.log"

    @property
    def lock(self) -> Path:
        return self.dir / f"{self.id}.lock"

    @property
    def failed(self) -> Path:
        """Left by a host that failed to start: background starts wait for a change."""
        return self.dir / f"{self.id}.failed"


def host_files(host_id: str, directory: Path | None = None) -> HostFiles:
    """The paths of host ``host_id``; a socket path too long for ``sun_path`` moves
    to ``/tmp/muxi-<uid>`` (checked the same way)."""
    base = directory if directory is not None else runtime_dir()
    sock = base / f"{host_id}.sock"
    if len(os.fsencode(sock)) >= MAX_SOCKET_PATH:
        sock = _checked(_fallback()) / f"{host_id}.sock"
    return HostFiles(host_id, base, sock)


def host_ids(directory: Path) -> list[str]:
    """The ids of the hosts that left a meta file in ``directory``."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(n[:-5] for n in names if n.endswith(".json") and not n.startswith("."))
