"""Where the media store keeps bytes: files under a folder, or objects in S3.

A backend stores opaque objects by key (``ab/<sha256>`` for a file's bytes,
``derived/ab/<sha256>/<form>`` for its derived forms). Every write is atomic:
a reader sees the whole object or none (a file is written under a temporary
name and renamed; an S3 PUT is atomic by itself).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Protocol

from muxi_cli import paths


class Backend(Protocol):
    def write(self, key: str, data: bytes, media_type: str) -> None: ...

    def read(self, key: str) -> bytes | None: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class FileBackend:
    """Objects as files under ``root`` (folders 0700, files 0600)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def write(self, key: str, data: bytes, media_type: str) -> None:
        path = self._path(key)
        paths.ensure_dir(path.parent)
        # A name no other writer (process or thread) uses, so two writers of
        # the same content never truncate each other's temporary file.
        tmp = path.with_name(
            f".{path.name}.{os.getpid()}.{threading.get_ident()}.{os.urandom(4).hex()}.tmp"
        )
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # Drop folders left empty (a derived-forms folder, a two-letter fan-out).
        for parent in path.parents:
            if parent == self.root or self.root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def describe(self) -> str:
        return str(self.root)

    def close(self) -> None:
        pass


class S3Backend:
    """Objects in an S3-compatible bucket under the URL's prefix."""

    def __init__(self, url: str) -> None:
        # deferred: only a store in object storage needs the client
        from muxi_cli.stores.media_s3 import S3Client, parse_url

        self.client = S3Client(parse_url(url))

    def write(self, key: str, data: bytes, media_type: str) -> None:
        self.client.put(key, data, media_type)

    def read(self, key: str) -> bytes | None:
        return self.client.get(key)

    def exists(self, key: str) -> bool:
        return self.client.exists(key)

    def delete(self, key: str) -> None:
        self.client.delete(key)

    def describe(self) -> str:
        return self.client.location.describe()

    def close(self) -> None:
        self.client.close()


def backend_for(root: Path, url: str | None) -> Backend:
    """Files under ``root``, or the bucket ``url`` names (``s3://...``)."""
    if url:
        return S3Backend(url)
    return FileBackend(root)
