"""Media bytes (images, documents, audio) as content-addressed files.

A message part never holds bytes: it holds a :class:`MediaRef` whose ``id``
is the bytes' sha256. The bytes live in ``<data folder>/media/ab/abcdef...``
(mode 0600), so the same image sent twice is stored once and a reference can
be checked against its file. Files are written to a temporary name and
renamed, so a crash never leaves half a file under a real id.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from muxi_cli import paths
from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.protocol.messages import MediaRef

#: The largest file the store accepts (bytes); larger ones are refused.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_ID_RE = re.compile(r"^[0-9a-f]{64}$")
_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*/[A-Za-z0-9][A-Za-z0-9.+-]*$")


def media_dir() -> Path:
    return paths.data_dir() / "media"


class MediaStore:
    """Put bytes in, get a :class:`MediaRef`; get the bytes back by reference."""

    def __init__(self, root: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root) if root is not None else media_dir()
        self.max_bytes = max_bytes

    def _path(self, media_id: str) -> Path:
        if not _ID_RE.match(media_id):
            raise NotFoundError(
                f"No media {media_id!r}.",
                hint="A media id is the 64-character sha256 of its bytes.",
            )
        return self.root / media_id[:2] / media_id

    def put(self, data: bytes, media_type: str, name: str | None = None) -> MediaRef:
        """Store ``data`` (once per content) and return its reference."""
        if not _TYPE_RE.match(media_type or ""):
            raise UsageError(
                f"Invalid media type {media_type!r}.", hint="Use a type such as image/png."
            )
        if len(data) > self.max_bytes:
            raise UsageError(
                f"{name or 'The file'} is {len(data):,} bytes; media may be at most "
                f"{self.max_bytes:,} bytes.",
                hint="Send a smaller file (scale the image down, or split the document).",
            )
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            paths.ensure_dir(path.parent)
            tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            finally:
                if tmp.exists():
                    tmp.unlink()
        return MediaRef(digest, media_type, len(data), name)

    def get(self, ref: MediaRef | str) -> bytes:
        """The bytes of ``ref``; :class:`NotFoundError` if they are not stored."""
        media_id = ref if isinstance(ref, str) else ref.id
        path = self._path(media_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                f"No media {media_id[:12]}… in {self.root}.",
                hint="It may have been deleted; the message that refers to it keeps its "
                "name and type only.",
            ) from None

    def has(self, ref: MediaRef | str) -> bool:
        media_id = ref if isinstance(ref, str) else ref.id
        return _ID_RE.match(media_id) is not None and self._path(media_id).exists()
