"""The media store: files (images, documents, audio, video) by content, per owner.

A message part never holds bytes: it holds a :class:`MediaRef` whose ``id``
is the bytes' sha256. The bytes are stored once however often and by whomever
they are sent, as ``<root>/ab/abcdef...`` (files 0600, written to a temporary
name and renamed, so a crash never leaves half a file under a real id) or as
objects in an S3-compatible bucket (``url="s3://..."``, see
:mod:`~muxi_cli.stores.media_s3`). A small SQLite index beside them
(``<root>/index.db``, :mod:`~muxi_cli.stores.media_index`) records who owns
what, so ``info``, ``list`` and ``usage`` never touch the bytes.

Each owner (a server's user; the local user by default) sees only its own
media: :meth:`MediaStore.for_owner` is that owner's view, and another owner's
id is not found there even when the bytes are the same. Limits are checked
before anything is written: ``max_bytes`` per file and ``quota_bytes`` per
owner (:class:`~muxi_cli.errors.MediaTooLargeError`).

Derived forms (extracted text, transcripts, resized images, video frames)
are cached by media id and a short key (``text``, ``fit:anthropic``,
``frame-0003.jpg``) so a file is never processed twice; they go when the
last owner deletes the file. Derived forms depend on the bytes only, so
owners of the same content share them.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from muxi_cli import paths
from muxi_cli.errors import MediaError, MediaTooLargeError, MuxiError, NotFoundError, UsageError
from muxi_cli.protocol.messages import MediaRef
from muxi_cli.stores import media_index as ix
from muxi_cli.stores.media_backends import Backend, backend_for

if TYPE_CHECKING:
    from muxi_cli.config.schema import MediaConfig

#: The largest file the store accepts (bytes); larger ones are refused.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: The environment variable naming an object storage URL (wins over ``media.url``).
URL_ENV = "MUXI_MEDIA_URL"
_ID_RE = re.compile(r"^[0-9a-f]{64}$")
_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*/[A-Za-z0-9][A-Za-z0-9.+-]*$")
#: Derived-form keys: short, no path separators, no leading dot.
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=,+@-]{0,127}$")


def media_dir() -> Path:
    return paths.data_dir() / "media"


def local_owner() -> str:
    """The local user: ``MUXI_USER_ID``, else the OS user name, else ``local``
    (``runtime.users.local_user_id`` is this rule)."""
    env = os.environ.get("MUXI_USER_ID")
    if env:
        return env
    import getpass  # deferred: a store given its owner never needs it

    try:
        return getpass.getuser() or "local"
    except Exception:
        return "local"


def human_size(size: int) -> str:
    """``20 MB``, ``1.5 GB``, ``512 bytes`` (binary multiples)."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.3g} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover - the loop always returns


def _blob_key(media_id: str) -> str:
    return f"{media_id[:2]}/{media_id}"


def _derived_key(media_id: str, key: str) -> str:
    # Percent-encoded so `fit:anthropic` is a file name everywhere; `%` is
    # not allowed in keys, so two keys never share a name.
    return f"derived/{media_id[:2]}/{media_id}/{quote(key, safe='-_.')}"


def _id_of(ref: MediaRef | str) -> str:
    return ref if isinstance(ref, str) else ref.id


class _Core:
    """What every owner's view shares: the bytes, the index, the limits."""

    def __init__(
        self, root: Path, url: str | None, max_bytes: int, quota_bytes: int | None
    ) -> None:
        self.root = root
        self.url = url
        self.backend: Backend = backend_for(root, url)
        self.index = ix.MediaIndex(root / "index.db")
        self.max_bytes = max_bytes
        self.quota_bytes = quota_bytes


class MediaStore:
    """Put bytes in, get a :class:`MediaRef`; get the bytes back by reference.

    Implements :class:`muxi_cli.media.types.DerivedCache`. Thread-safe and
    synchronous; an S3 store does network I/O in these calls.
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        url: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        quota_bytes: int | None = None,
        _core: _Core | None = None,
        _owner: str | None = None,
    ) -> None:
        if _core is None:
            _core = _Core(Path(root) if root is not None else media_dir(), url, max_bytes,
                          quota_bytes)  # fmt: skip
        self._core = _core
        self.owner = _owner or local_owner()

    @classmethod
    def from_config(cls, config: MediaConfig | None, root: Path | None = None) -> MediaStore:
        """The store a formation's ``media:`` section describes (``MUXI_MEDIA_URL`` wins)."""
        url = os.environ.get(URL_ENV) or (config.url if config is not None else None)
        if config is None:
            return cls(root, url=url)
        return cls(
            root,
            url=url,
            max_bytes=int(config.max_file_size),
            quota_bytes=None if config.quota is None else int(config.quota),
        )

    def for_owner(self, owner: str | None) -> MediaStore:
        """``owner``'s view of the same store (None or "": the local user's)."""
        return MediaStore(_core=self._core, _owner=owner or None)

    @property
    def root(self) -> Path:
        """The folder of the index (and of the bytes, unless they are in S3)."""
        return self._core.root

    @property
    def max_bytes(self) -> int:
        return self._core.max_bytes

    @property
    def quota_bytes(self) -> int | None:
        return self._core.quota_bytes

    def set_limits(self, *, max_bytes: int | None = None, quota_bytes: int | None = None) -> None:
        """Change the per-file limit and the per-owner quota of this store and
        every owner's view of it (a server applies its command-line limits)."""
        if max_bytes is not None:
            self._core.max_bytes = max_bytes
        self._core.quota_bytes = quota_bytes

    def describe(self) -> str:
        """Where the bytes are: a folder or ``s3://bucket/prefix``."""
        return self._core.backend.describe()

    def close(self) -> None:
        self._core.index.close()
        self._core.backend.close()

    def check_reachable(self) -> None:
        """Raise a MuxiError when the object storage holding the bytes does not
        answer (a HEAD request; a missing object is an answer). A folder: nothing."""
        client = getattr(self._core.backend, "client", None)
        if client is not None:
            client.exists(".muxi-ready")

    # -- files ----------------------------------------------------------------

    def put(
        self,
        data: bytes,
        media_type: str,
        name: str | None = None,
        meta: dict[str, int | float] | None = None,
    ) -> MediaRef:
        """Store ``data`` for this owner (once per content) and return its reference.

        :class:`MediaTooLargeError` when the file is over ``max_bytes`` or would
        take the owner over ``quota_bytes``; nothing is stored then.
        """
        if not _TYPE_RE.match(media_type or ""):
            raise MediaError(
                f"Invalid media type {media_type!r}.", hint="Use a type such as image/png."
            )
        label = name or "The file"
        if len(data) > self.max_bytes:
            raise MediaTooLargeError(
                f"{label} is {len(data):,} bytes; media may be at most "
                f"{self.max_bytes:,} bytes ({human_size(self.max_bytes)}).",
                hint="Send a smaller file (scale the image down, or split the document).",
            )
        clean = {
            str(k): v
            for k, v in (meta or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        digest = hashlib.sha256(data).hexdigest()
        ref = MediaRef(digest, media_type, len(data), name, clean)
        core = self._core
        with core.index.write() as conn:
            row = ix.owned(conn, self.owner, digest)
            key = _blob_key(digest)
            if row is not None:
                if not core.backend.exists(key):  # removed outside muxi: store it again
                    core.backend.write(key, data, media_type)
                stored = ix.ref_from_row(row)
                if clean and not stored.meta:
                    conn.execute(
                        "UPDATE media SET meta = ? WHERE owner = ? AND id = ?",
                        (json.dumps(clean), self.owner, digest),
                    )
                return MediaRef(digest, media_type, len(data),
                                name if name is not None else stored.name,
                                clean or stored.meta)  # fmt: skip
            self._check_quota(conn, label, len(data))
            had_blob = ix.has_blob(conn, digest)
            wrote = False
            try:
                if not (had_blob and core.backend.exists(key)):
                    core.backend.write(key, data, media_type)
                    wrote = not had_blob
                ix.add(conn, self.owner, ref)
            except BaseException:
                if wrote:  # the transaction rolls back: leave no bytes nobody owns
                    self._discard(key)
                raise
        return ref

    def _check_quota(self, conn: sqlite3.Connection, label: str, size: int) -> None:
        quota = self.quota_bytes
        if quota is None:
            return
        used = ix.usage(conn, self.owner)
        if used + size > quota:
            raise MediaTooLargeError(
                f"{label} ({human_size(size)}) would take you over your media quota of "
                f"{human_size(quota)}.",
                hint=f"You store {human_size(used)} of {human_size(quota)}: delete sessions "
                "or files you no longer need to make room.",
            )

    def _discard(self, key: str) -> None:
        try:
            self._core.backend.delete(key)
        except MuxiError:
            pass  # the bytes stay unowned; a later put of the same content reuses them

    def get(self, ref: MediaRef | str) -> bytes:
        """The bytes of ``ref``; :class:`NotFoundError` if this owner has no such media."""
        media_id = _id_of(ref)
        if self.info(media_id) is None:
            raise self._missing(media_id)
        data = self._core.backend.read(_blob_key(media_id))
        if data is None:
            raise NotFoundError(
                f"The bytes of media {media_id[:12]}… are missing from {self.describe()}.",
                hint="They were removed outside muxi; send the file again.",
            )
        if hashlib.sha256(data).hexdigest() != media_id:
            raise MuxiError(
                f"The bytes of media {media_id[:12]}… in {self.describe()} are damaged.",
                hint="Send the file again.",
            )
        return data

    def _missing(self, media_id: str) -> NotFoundError:
        shown = media_id[:12] + "…" if _ID_RE.match(media_id) else repr(media_id)
        return NotFoundError(
            f"No media {shown}.",
            hint="A media id is the 64-character sha256 of its bytes; it may have been "
            "deleted (the messages that refer to it keep its name and type only).",
        )

    def info(self, media_id: str) -> MediaRef | None:
        """The media as stored (type, size, name, meta), or None."""
        if not _ID_RE.match(media_id or ""):
            return None
        with self._core.index.read() as conn:
            row = ix.owned(conn, self.owner, media_id)
        return None if row is None else ix.ref_from_row(row)

    def has(self, ref: MediaRef | str) -> bool:
        return self.info(_id_of(ref)) is not None

    def list(self) -> list[MediaRef]:
        """This owner's media, oldest first."""
        with self._core.index.read() as conn:
            return ix.listing(conn, self.owner)

    def usage(self) -> int:
        """Bytes this owner stores (each file counted once, derived forms not at all)."""
        with self._core.index.read() as conn:
            return ix.usage(conn, self.owner)

    def delete(self, media_id: str) -> None:
        """Delete this owner's media; the bytes and derived forms go with the last owner."""
        core = self._core
        with core.index.write() as conn:
            if not _ID_RE.match(media_id or "") or ix.owned(conn, self.owner, media_id) is None:
                raise self._missing(media_id)
            if ix.remove(conn, self.owner, media_id):
                # Inside the transaction: a concurrent put of the same bytes
                # waits, so it never finds its new bytes deleted.
                for key in ix.derived_keys(conn, media_id):
                    core.backend.delete(_derived_key(media_id, key))
                core.backend.delete(_blob_key(media_id))
                ix.drop_blob(conn, media_id)

    def adopt(self, ref: MediaRef) -> bool:
        """Index bytes already in the backend for this owner (files stored
        before the index existed); False when they are not there."""
        if not _ID_RE.match(ref.id):
            return False
        with self._core.index.write() as conn:
            if ix.owned(conn, self.owner, ref.id) is not None:
                return True
            if not self._core.backend.exists(_blob_key(ref.id)):
                return False
            ix.add(conn, self.owner, ref)
        return True

    # -- derived forms --------------------------------------------------------

    @staticmethod
    def _check_key(key: str) -> None:
        if not _KEY_RE.match(key or ""):
            raise UsageError(
                f"Invalid derived-form key {key!r}.",
                hint="Use a short name of letters, digits and . _ - : = , + @ "
                "(no path separators), such as text or fit:anthropic.",
            )

    def get_derived(self, media_id: str, key: str) -> bytes | None:
        """A cached derived form of this owner's media, or None."""
        self._check_key(key)
        if not _ID_RE.match(media_id or ""):
            return None
        with self._core.index.read() as conn:
            if ix.owned(conn, self.owner, media_id) is None:
                return None
            if not ix.has_derived(conn, media_id, key):
                return None
        return self._core.backend.read(_derived_key(media_id, key))

    def put_derived(self, media_id: str, key: str, data: bytes) -> None:
        """Cache a derived form (``text`` is UTF-8 and found by session search)."""
        self._check_key(key)
        if len(data) > self.max_bytes:
            raise MediaTooLargeError(
                f"The derived form {key!r} is {len(data):,} bytes; at most "
                f"{self.max_bytes:,} are kept.",
                hint="Derive a smaller form.",
            )
        text = data.decode("utf-8", "replace") if key == "text" else None
        core = self._core
        with core.index.write() as conn:
            if not _ID_RE.match(media_id or "") or ix.owned(conn, self.owner, media_id) is None:
                raise self._missing(media_id)
            core.backend.write(_derived_key(media_id, key), data, "application/octet-stream")
            ix.put_derived(conn, media_id, key, len(data), text)

    def text_matches(self, like: str, *, any_owner: bool = False) -> builtins.list[str]:
        """Ids of this owner's (or anyone's) media whose ``text`` form matches
        the SQL ``LIKE`` pattern (``\\`` escapes)."""
        with self._core.index.read() as conn:
            return ix.text_matches(conn, like, None if any_owner else self.owner)
