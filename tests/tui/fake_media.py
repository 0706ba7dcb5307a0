"""The media and speech half of the TUI's fake runtime, per the Runtime
protocol's docstrings (runtime/base.py): files stored by sha256, the type
taken from the bytes (a name or claim that disagrees is refused), a per-file
limit, each session's files in the order they were sent, and ``speak`` calls
recorded.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import PurePath
from typing import Any

from muxi_cli.errors import MediaError, MediaTooLargeError, NotFoundError
from muxi_cli.protocol.messages import (
    AudioPart,
    DocumentPart,
    ImagePart,
    MediaPart,
    MediaRef,
    VideoPart,
)

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"RIFF", "audio/wav"),
)
_BY_SUFFIX = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".pdf": "application/pdf",
    ".wav": "audio/wav",
}

#: What ``speak`` returns: a tiny WAV header (the fake player does not care).
SPOKEN = b"RIFF\x24\x00\x00\x00WAVEfmt "


def media_part(ref: MediaRef) -> MediaPart:
    major = ref.media_type.split("/", 1)[0]
    kind = {"image": ImagePart, "audio": AudioPart, "video": VideoPart}.get(major, DocumentPart)
    return kind(ref)


class FakeMedia:
    """Mixed into the fake runtime."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.media: dict[str, tuple[MediaRef, bytes]] = {}
        #: media id -> the users who stored it (None: the local user)
        self.media_owners: dict[str, set[str | None]] = {}
        self.media_puts: list[MediaRef] = []
        self.media_gets: list[str] = []
        self.max_media_bytes = 10 * 1024 * 1024
        self.spoken: list[tuple[str, str]] = []
        #: session id -> media ids in the order they were sent
        self.session_files: dict[str, list[str]] = {}

    async def put_media(
        self,
        data: bytes,
        *,
        name: str | None = None,
        media_type: str | None = None,
        user_id: str | None = None,
    ) -> MediaRef:
        if len(data) > self.max_media_bytes:
            raise MediaTooLargeError(
                f"{name or 'the file'} is {len(data)} bytes; the limit is {self.max_media_bytes}",
                "Send a smaller file.",
            )
        sniffed = next((t for magic, t in _MAGIC if data.startswith(magic)), None)
        named = _BY_SUFFIX.get(PurePath(name or "").suffix.lower())
        if sniffed is None:
            raise MediaError(f"{name or 'the file'}: unknown or unreadable file type")
        for claim in (named, media_type):
            if claim is not None and claim != sniffed:
                raise MediaError(f"{name}: the name or type says {claim}, the bytes are {sniffed}")
        meta: dict[str, int | float] = {}
        if sniffed.startswith("image/"):
            from PIL import Image

            with Image.open(io.BytesIO(data)) as image:
                meta = {"width": image.width, "height": image.height}
        ref = MediaRef(hashlib.sha256(data).hexdigest(), sniffed, len(data), name, meta)
        self.media[ref.id] = (ref, data)
        self.media_owners.setdefault(ref.id, set()).add(user_id)
        self.media_puts.append(ref)
        return ref

    async def get_media(
        self, media_id: str, *, user_id: str | None = None
    ) -> tuple[MediaRef, bytes]:
        self.media_gets.append(media_id)
        if media_id not in self.media or user_id not in self.media_owners.get(media_id, ()):
            raise NotFoundError(f"no media {media_id}")  # another user's file is not found
        return self.media[media_id]

    async def session_media(self, session_id: str, user_id: str | None = None) -> list[MediaRef]:
        return [self.media[i][0] for i in self.session_files.get(session_id, []) if i in self.media]

    async def transcribe(self, data: bytes, *, media_type: str, name: str | None = None) -> str:
        return f"(heard {len(data)} bytes)"

    async def speak(self, text: str, *, voice: str | None = None, fmt: str = "mp3") -> bytes:
        self.spoken.append((text, fmt))
        return SPOKEN
