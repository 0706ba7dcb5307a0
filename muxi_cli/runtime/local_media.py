"""The media store and speech of a :class:`~muxi_cli.runtime.local.LocalRuntime`.

A mixin of the runtime: each user's files live in their own namespace of the
sessions store's media store; decoding runs off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from muxi_cli.errors import MediaTooLargeError, NotFoundError
from muxi_cli.protocol.messages import MediaRef

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation
    from muxi_cli.llm.registry import ProviderRegistry
    from muxi_cli.stores.media import MediaStore
    from muxi_cli.stores.sessions import SessionStore


class LocalMedia:
    """Storing and reading a user's files, transcription and speech."""

    formation: Formation
    models: ProviderRegistry
    store: SessionStore
    user_id: str

    if TYPE_CHECKING:

        def _sid(self, session_id: str, user_id: str | None = None) -> str: ...

    def _media(self, user_id: str | None) -> MediaStore:
        """``user_id``'s own namespace of the media store (turns read it the same way)."""
        return self.store.media.for_owner(user_id or self.user_id)

    @property
    def media_max_bytes(self) -> int:
        """The largest file :meth:`put_media` accepts (``muxi chat --attach`` checks first)."""
        return self.store.media.max_bytes

    async def put_media(
        self,
        data: bytes,
        *,
        name: str | None = None,
        media_type: str | None = None,
        user_id: str | None = None,
    ) -> MediaRef:
        # deferred: Pillow, pdfium and the Office readers load only when a file comes in
        from muxi_cli.media.ingest import normalize

        store = self._media(user_id)
        if len(data) > store.max_bytes:  # refused before any decoding work
            raise MediaTooLargeError(
                f"{name or 'the file'} is {len(data):,} bytes; a file may be at most "
                f"{store.max_bytes:,} bytes",
                hint="send a smaller file (scale the image down, or split the document)",
            )
        # Decoding and re-encoding is CPU work: off the event loop, so a server stays live.
        clean = await asyncio.to_thread(normalize, data, name, media_type)
        return await asyncio.to_thread(
            store.put, clean.data, clean.media_type, name, meta=clean.meta
        )

    async def get_media(
        self, media_id: str, *, user_id: str | None = None
    ) -> tuple[MediaRef, bytes]:
        store = self._media(user_id)
        ref = store.info(media_id)
        if ref is None:
            raise NotFoundError(f"no media {media_id[:16]!r}", hint="see `muxi sessions show ID`")
        return ref, await asyncio.to_thread(store.get, media_id)

    async def session_media(self, session_id: str, user_id: str | None = None) -> list[MediaRef]:
        return self.store.session_media(self._sid(session_id, user_id), user_id)

    async def transcribe(self, data: bytes, *, media_type: str, name: str | None = None) -> str:
        from muxi_cli.llm.audio import transcriber_for  # deferred: loads the provider code
        from muxi_cli.media.av import transcribe  # deferred: media code

        return await transcribe(
            data, media_type, transcriber_for(self.formation, self.models), name
        )

    async def speak(self, text: str, *, voice: str | None = None, fmt: str = "mp3") -> bytes:
        from muxi_cli.llm.audio import speaker_for  # deferred: loads the provider code
        from muxi_cli.media.speech import synthesize  # deferred: media code

        speaker = speaker_for(self.formation, self.models)
        voice = voice or self.formation.audio.voice
        return await synthesize(text, speaker=speaker, voice=voice, fmt=fmt)
