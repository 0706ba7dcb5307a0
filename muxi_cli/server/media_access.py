"""The media of a server's users: uploads within limits and quotas, per caller.

Both doors in (``POST /v1/media`` and WebSocket uploads) go through
:class:`MediaAccess`: it admits an upload (how many run at once, how many a
user sends per minute), stores it through ``Runtime.put_media`` (the type comes
from the bytes there) and holds each user to a storage quota. Reads go through
``Runtime.get_media``; what the Runtime interface does not offer (a stored
file's reference without its bytes, how much a user stores, deleting) goes to
the media store the runtime stores into (``ServerContext.media_store``).

An id that is not the caller's own is answered exactly like a missing one, so
ids cannot be probed across users.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MediaTooLargeError, MuxiError, NotFoundError, UsageError
from muxi_cli.server.context import DEFAULT_MEDIA_QUOTA
from muxi_cli.server.limits import RateLimiter, UploadGate
from muxi_cli.stores.lance_schema import SHARED_USER

if TYPE_CHECKING:
    from muxi_cli.protocol.messages import MediaRef
    from muxi_cli.protocol.records import Attachment
    from muxi_cli.runtime.base import Runtime
    from muxi_cli.server.context import ServerSettings

#: A media id is the sha256 of its bytes; nothing else reaches the store.
MEDIA_ID = re.compile(r"^[0-9a-f]{64}$")


class UploadsBusy(MuxiError):
    code = "busy"
    http_status = 503


def not_found(media_id: str) -> NotFoundError:
    # The same answer for a malformed id, a missing one and another user's.
    return NotFoundError(
        f"no media {media_id[:80]!r}",
        hint="upload it with POST /v1/media; ids are the 64-character sha256 the upload returned",
    )


_QUOTA_HINT = (
    "delete media you no longer need (DELETE /v1/media/{id}), "
    "or ask the admin to raise --media-quota-mb"
)


class MediaAccess:
    def __init__(self, runtime: Runtime, store: Any, settings: ServerSettings) -> None:
        self.runtime = runtime
        #: The runtime's media store (``MediaStore``: ``for_owner``, ``info``,
        #: ``usage``, ``delete``); see serve.py for where it comes from.
        self.store = store
        # The options win over the formation's media: section; the store still
        # refuses what is over its own max_file_size / quota.
        self.max_bytes: int = settings.max_upload or store.max_bytes
        self.quota: int = settings.media_quota or store.quota_bytes or DEFAULT_MEDIA_QUOTA
        self.idle = settings.upload_idle
        self.deadline = settings.upload_deadline
        self.gate = UploadGate(settings.max_uploads)
        self.limiter = RateLimiter(settings.upload_rate / 60.0, settings.upload_burst)
        self._locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def owner(user_id: str) -> str:
        if user_id == SHARED_USER:
            raise UsageError(
                "'*' names the shared knowledge, not a user who can own media",
                hint="send X-Muxi-User-Id with a user id (or none)",
            )
        return user_id

    def admit(self, user_id: str) -> None:
        """Start one upload of ``user_id`` (429/503 beyond the rate or the gate);
        :meth:`release` ends it, however it ends."""
        from muxi_cli.server.app import TooManyRequests  # deferred: loads FastAPI glue

        user = self.owner(user_id)
        wait = self.limiter.take(user)
        if wait > 0:
            raise TooManyRequests(wait, "too many uploads for this user")
        full = self.gate.enter(user)
        if full == "user":
            raise TooManyRequests(1.0, "this user already has uploads in progress")
        if full == "server":
            raise UploadsBusy("the server is receiving too many uploads", hint="retry in a moment")

    def release(self, user_id: str) -> None:
        self.gate.leave(user_id)

    @contextlib.contextmanager
    def admitted(self, user_id: str) -> Iterator[None]:
        """One upload of ``user_id`` for the duration of the block."""
        self.admit(user_id)
        try:
            yield
        finally:
            self.release(user_id)

    def _lock(self, user: str) -> asyncio.Lock:
        lock = self._locks.get(user)
        if lock is None:
            if len(self._locks) > 10_000:  # forget idle users' locks
                self._locks = {u: lk for u, lk in self._locks.items() if lk.locked()}
            lock = self._locks[user] = asyncio.Lock()
        return lock

    def _owned(self, user: str) -> Any:
        return self.store.for_owner(user)

    async def put(
        self, user_id: str, data: bytes, *, name: str | None, media_type: str | None
    ) -> MediaRef:
        """Store an upload for ``user_id``: within the per-file limit and the quota.

        Uploads of one user are stored one at a time, so the quota check sees
        every earlier upload; bytes the user already stores cost nothing more.
        """
        user = self.owner(user_id)
        if len(data) > self.max_bytes:
            from muxi_cli.server.uploads import too_large  # deferred: loads python-multipart glue

            raise too_large(len(data), self.max_bytes)
        async with self._lock(user):
            owned = self._owned(user)
            before = await asyncio.to_thread(owned.usage)
            try:
                ref: MediaRef = await self.runtime.put_media(
                    data, name=name, media_type=media_type, user_id=user
                )
            except MediaTooLargeError as exc:  # the store's own quota check (serve.py sets it)
                raise MediaTooLargeError(exc.message, hint=_QUOTA_HINT) from None
            after = await asyncio.to_thread(owned.usage)
            if after > self.quota and after > before:
                # New bytes that do not fit: take them out again, then refuse.
                await asyncio.to_thread(owned.delete, ref.id)
                raise MediaTooLargeError(
                    f"this upload would bring your media to {after:,} bytes; "
                    f"you may store {self.quota:,}",
                    hint=_QUOTA_HINT,
                )
        return ref

    async def info(self, user_id: str, media_id: str) -> MediaRef:
        if not MEDIA_ID.match(media_id):
            raise not_found(media_id)
        ref: MediaRef | None = await asyncio.to_thread(
            self._owned(self.owner(user_id)).info, media_id
        )
        if ref is None:
            raise not_found(media_id)
        return ref

    async def read(self, user_id: str, media_id: str) -> tuple[MediaRef, bytes]:
        if not MEDIA_ID.match(media_id):
            raise not_found(media_id)
        try:
            return await self.runtime.get_media(media_id, user_id=self.owner(user_id))
        except NotFoundError:
            raise not_found(media_id) from None

    async def delete(self, user_id: str, media_id: str) -> None:
        await self.info(user_id, media_id)  # 404 unless the caller's own
        user = self.owner(user_id)
        async with self._lock(user):
            await asyncio.to_thread(self._owned(user).delete, media_id)

    async def usage(self, user_id: str) -> int:
        return int(await asyncio.to_thread(self._owned(self.owner(user_id)).usage))

    async def check_attachments(self, user_id: str, attachments: list[Attachment]) -> None:
        """Refuse a chat request naming media the caller does not own (404),
        or sending files inline that would not fit the caller's quota (413).

        The engine resolves ids in the caller's own store too; this answers
        before a turn starts, with the same error as ``GET /v1/media/{id}``.
        """
        inline = 0
        for att in attachments:
            if att.media_id is not None:
                await self.info(user_id, att.media_id)
            else:
                inline += len(att.content)  # base64 or text: at least the stored size
        if inline and user_id != SHARED_USER:
            used = await self.usage(user_id)
            if used + inline * 3 // 4 > self.quota:  # base64 holds 3 bytes per 4 characters
                raise MediaTooLargeError(
                    f"these attachments would bring your media over your quota of "
                    f"{self.quota:,} bytes (you store {used:,})",
                    hint="delete media you no longer need (DELETE /v1/media/{id})",
                )
