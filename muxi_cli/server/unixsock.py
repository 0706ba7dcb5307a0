"""The Unix domain socket a local host serves on: bind it private, check peers, remove it safely.

Only the same OS user may talk to a host. Three layers make sure of it: the
runtime directory is 0700 (the host lane's job), the socket is created 0600
(:func:`bind_unix_socket`, under a umask, so there is no moment where it is
wider), and every connection's peer credentials are checked against our uid
(:func:`peer_uid`, used by the HTTP protocol in :mod:`muxi_cli.server.connections`).

A socket path can be taken over by a newer host (the old one draining while
a new one binds the same path after the file was deleted), so the file is
removed only while it is still the one this process bound (:class:`SocketFile`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
import sys
from pathlib import Path

from muxi_cli.errors import MuxiError

#: Pending connections the kernel queues before accept (parallel one-shot clients).
BACKLOG = 128
#: Longest socket path the kernel accepts (sun_path is 108 bytes on Linux, 104 on macOS).
MAX_PATH_BYTES = 104 if sys.platform == "darwin" else 108


class SocketFile:
    """The socket file this process bound at ``path``, told apart from any later one.

    A file is ours while the path names the same device and inode. Inode numbers
    are reused as soon as a file is freed (unlink, then a new bind, gets the same
    number in the same directory), so on Linux the inode is pinned with an
    ``O_PATH`` descriptor (no read or write access, not inherited by children):
    while it is held, no new file can get that number.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        st = os.lstat(path)
        self.dev, self.ino = st.st_dev, st.st_ino
        self.ctime_ns = st.st_ctime_ns  # where O_PATH is missing (macOS): a weaker tie-break
        self._pin: int | None = None
        o_path = getattr(os, "O_PATH", 0)
        if o_path:
            self._pin = os.open(path, o_path | os.O_NOFOLLOW)
            pinned = os.fstat(self._pin)
            if (pinned.st_dev, pinned.st_ino) != (self.dev, self.ino):  # pragma: no cover
                self.release()
                raise MuxiError(f"the socket {path} was replaced while it was being created")

    def is_ours(self) -> bool:
        """Whether ``path`` still names the socket file we bound (not deleted, not replaced)."""
        try:
            st = os.lstat(self.path)
        except OSError:
            return False
        if not stat.S_ISSOCK(st.st_mode) or (st.st_dev, st.st_ino) != (self.dev, self.ino):
            return False
        return self._pin is not None or st.st_ctime_ns == self.ctime_ns

    def remove(self) -> bool:
        """Remove the file if it is still ours; returns whether it was removed.

        A file another process bound since (a newer host on the same path) is
        left alone. Releases the pin either way.
        """
        try:
            if not self.is_ours():
                return False
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                return False
            return True
        finally:
            self.release()

    def release(self) -> None:
        """Stop pinning the inode (after this, :meth:`is_ours` is only as good as on macOS)."""
        pin, self._pin = self._pin, None
        if pin is not None:
            os.close(pin)


def _is_live(path: Path) -> bool:
    """Whether something accepts connections on the socket at ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def bind_unix_socket(path: Path, backlog: int = BACKLOG) -> tuple[socket.socket, SocketFile]:
    """A listening Unix socket at ``path``, mode 0600, and its file (to remove it safely).

    A stale socket file (nothing listening) is replaced; a live one, or a path
    that is not a socket, is refused with a :class:`MuxiError`.
    """
    if len(os.fsencode(path)) >= MAX_PATH_BYTES:
        raise MuxiError(
            f"the socket path is too long for the system ({len(os.fsencode(path))} bytes): {path}",
            hint="use a shorter runtime directory (MUXI_RUNTIME_DIR)",
        )
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise MuxiError(
                f"{path} exists and is not a socket; not replacing it",
                hint="remove it if it is not needed",
            )
        if _is_live(path):
            raise MuxiError(f"another server is already listening on {path}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # bind() creates the file with 0777 & ~umask: with 0o177 it is 0600 from the
        # start (a chmod afterwards would leave a window where others could connect).
        old = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        sock.listen(backlog)
        sock.setblocking(False)
        ident = SocketFile(path)
    except OSError as exc:
        sock.close()
        raise MuxiError(f"cannot listen on {path}: {exc.strerror or exc}") from exc
    except BaseException:
        sock.close()
        raise
    return sock, ident


#: SO_PEERCRED's answer on Linux: ``struct ucred { pid_t pid; uid_t uid; gid_t gid; }``.
_UCRED = struct.Struct("3i")
#: macOS: ``getsockopt(SOL_LOCAL, LOCAL_PEERCRED)`` fills a ``struct xucred``
#: (``u_int cr_version; uid_t cr_uid; ...``); only its first two fields are read.
_SOL_LOCAL = 0
_LOCAL_PEERCRED = 0x001
_XUCRED_HEAD = struct.Struct("2I")
_XUCRED_SIZE = 76


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a connected Unix socket.

    ``None`` when the system cannot tell (the caller refuses such a peer).
    """
    try:
        if hasattr(socket, "SO_PEERCRED"):
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            return int(_UCRED.unpack(raw)[1])
        if sys.platform == "darwin":  # pragma: no cover - not run on Linux CI
            raw = sock.getsockopt(_SOL_LOCAL, _LOCAL_PEERCRED, _XUCRED_SIZE)
            return int(_XUCRED_HEAD.unpack_from(raw)[1])
    except OSError:  # gone already, or not a Unix socket
        return None
    return None
