"""An in-memory media store with the ``MediaStore`` interface, for FakeRuntime.

Per owner, content-addressed (sha256), with a per-file limit and an optional
quota, as the real store; no disk, no derived forms.
"""

from __future__ import annotations

import hashlib

from muxi_cli.errors import MediaError, MediaTooLargeError, NotFoundError
from muxi_cli.protocol.messages import MediaRef

#: Magic bytes of the types the fake recognises (the real one is media.ingest.sniff).
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"%PDF-", "application/pdf"),
    (b"RIFF", "audio/wav"),
    (b"<svg", "image/svg+xml"),
    (b"<?xml", "image/svg+xml"),
    (b"<!DOCTYPE html", "text/html"),
    (b"<html", "text/html"),
)


def fake_sniff(data: bytes, claimed: str | None) -> str:
    found = next((t for magic, t in MAGIC if data.startswith(magic)), None)
    if found is None:
        found = "text/plain" if _is_text(data) else "application/octet-stream"
    if claimed and found not in ("application/octet-stream",) and claimed != found:
        raise MediaError(f"the file is {found}, not {claimed}", hint="send its real type")
    return found if found != "application/octet-stream" or not claimed else claimed


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class FakeMediaStore:
    def __init__(
        self,
        max_bytes: int = 20 * 1024 * 1024,
        quota_bytes: int | None = None,
        *,
        _shared: dict[str | None, dict[str, tuple[MediaRef, bytes]]] | None = None,
        _owner: str | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.quota_bytes = quota_bytes
        self._all = _shared if _shared is not None else {}
        self.owner = _owner

    def for_owner(self, owner: str | None) -> FakeMediaStore:
        return FakeMediaStore(self.max_bytes, self.quota_bytes, _shared=self._all, _owner=owner)

    @property
    def _mine(self) -> dict[str, tuple[MediaRef, bytes]]:
        return self._all.setdefault(self.owner, {})

    def put(
        self,
        data: bytes,
        media_type: str,
        name: str | None = None,
        meta: dict[str, int | float] | None = None,
    ) -> MediaRef:
        if len(data) > self.max_bytes:
            raise MediaTooLargeError(f"{len(data)} bytes is over {self.max_bytes}")
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._mine:
            return self._mine[digest][0]
        if self.quota_bytes is not None and self.usage() + len(data) > self.quota_bytes:
            raise MediaTooLargeError("over the quota")
        ref = MediaRef(digest, media_type, len(data), name, dict(meta or {}))
        self._mine[digest] = (ref, data)
        return ref

    def get(self, ref: MediaRef | str) -> bytes:
        media_id = ref if isinstance(ref, str) else ref.id
        if media_id not in self._mine:
            raise NotFoundError(f"no media {media_id!r}")
        return self._mine[media_id][1]

    def info(self, media_id: str) -> MediaRef | None:
        found = self._mine.get(media_id)
        return found[0] if found else None

    def has(self, ref: MediaRef | str) -> bool:
        return (ref if isinstance(ref, str) else ref.id) in self._mine

    def delete(self, media_id: str) -> None:
        self._mine.pop(media_id, None)

    def usage(self) -> int:
        return sum(ref.size for ref, _ in self._mine.values())

    def list(self) -> list[MediaRef]:
        return [ref for ref, _ in self._mine.values()]

    def get_derived(self, media_id: str, key: str) -> bytes | None:
        return None

    def put_derived(self, media_id: str, key: str, data: bytes) -> None:
        return None
