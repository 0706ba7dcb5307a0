"""Read one uploaded file from a ``multipart/form-data`` body, within a hard limit.

Starlette's form parser spools files of any size to disk; this reader keeps
the file in memory and stops reading the moment it passes ``max_bytes``, so a
body that lies about its length (or sends none) costs at most the limit. The
caller stores the bytes only once the whole body arrived: a client that
disconnects half-way leaves nothing behind.

Fields: ``file`` (exactly one, the file) and ``media_type`` (optional: the
type the client claims; the store checks it against the bytes). Anything else
is refused, so a body cannot smuggle thousands of fields.
"""

from __future__ import annotations

import asyncio
import posixpath
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from muxi_cli.errors import MediaTooLargeError, MuxiError, UsageError

#: Bytes a multipart body may add around the file (boundaries, part headers,
#: the ``media_type`` field): the whole body may be ``max_bytes`` plus this.
OVERHEAD = 64 * 1024
MAX_NAME = 200
_MAX_TYPE = 255
_MAX_PARTS = 4
_FIELDS = ("file", "media_type")


class UploadTimeout(MuxiError):
    code = "request_timeout"
    http_status = 408


def too_large(size: int | None, max_bytes: int) -> MediaTooLargeError:
    what = f"the file is {size:,} bytes" if size is not None else "the file is too large"
    return MediaTooLargeError(
        f"{what}; this server takes files of at most {max_bytes:,} bytes",
        hint="send a smaller file (scale the image down, split the document), "
        "or ask the admin to raise --max-upload-mb",
    )


def clean_name(raw: str | None) -> str | None:
    """A display name from a client's file name: no directories, no control
    characters, at most ``MAX_NAME`` characters (None when nothing is left)."""
    if not raw:
        return None
    base = posixpath.basename(raw.replace("\\", "/"))
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    if base in ("", ".", ".."):
        return None
    return base[:MAX_NAME]


@dataclass(slots=True)
class Upload:
    data: bytes
    name: str | None
    media_type: str | None


@dataclass(slots=True)
class _Part:
    disposition: bytes = b""
    header_name: bytes = b""
    header_value: bytes = b""
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


class _Reader:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.part = _Part()
        self.parts = 0
        self.file: _Part | None = None
        self.claimed: str | None = None
        #: The closing boundary arrived (a body cut short never gets there).
        self.ended = False

    # python-multipart callbacks (synchronous; they raise to stop the parse)
    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > _MAX_PARTS:
            raise UsageError("too many parts in the upload", hint="send 'file' and 'media_type'")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.part.header_name.strip().lower() == b"content-disposition":
            self.part.disposition = self.part.header_value
        self.part.header_name = self.part.header_value = b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import (
            parse_options_header,  # deferred: python-multipart is only for uploads
        )

        _, options = parse_options_header(self.part.disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name not in _FIELDS:
            raise UsageError(
                f"unexpected form field {name[:40]!r} in the upload",
                hint="send the file as field 'file' (and optionally 'media_type')",
            )
        self.part.name = name
        if name == "file":
            if self.file is not None:
                raise UsageError("one file per upload", hint="upload each file on its own")
            raw = options.get(b"filename")
            self.part.filename = clean_name(raw.decode("utf-8", "replace") if raw else None)
            self.file = self.part

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        limit = self.max_bytes if part.name == "file" else _MAX_TYPE
        if len(part.data) + (end - start) > limit:
            if part.name == "file":
                raise too_large(None, self.max_bytes)
            raise UsageError("the media_type field is too long", hint="e.g. image/png")
        part.data += data[start:end]

    def on_part_end(self) -> None:
        if self.part.name == "media_type":
            claimed = self.part.data.decode("utf-8", "replace").strip()
            self.claimed = claimed or None

    def on_end(self) -> None:
        self.ended = True


async def read_upload(
    chunks: AsyncIterator[bytes],
    content_type: str,
    max_bytes: int,
    idle: float,
    deadline: float = 600.0,
) -> Upload:
    """The file (and claimed type) of a multipart body; raises before storing anything.

    ``idle``: seconds the client may pause between two chunks, ``deadline``:
    seconds the whole body may take (UploadTimeout after either).
    """
    from python_multipart.exceptions import (  # deferred: python-multipart is only for uploads
        FormParserError,
    )
    from python_multipart.multipart import (  # deferred: python-multipart is only for uploads
        MultipartParser,
        parse_options_header,
    )

    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UsageError(
            "an upload is a multipart/form-data body",
            hint="e.g. curl -F file=@photo.png .../v1/media",
        )
    reader = _Reader(max_bytes)
    callbacks = {
        name: getattr(reader, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
            "on_end",
        )
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        iterator = chunks.__aiter__()
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        while True:
            left = end - loop.time()
            try:
                chunk = await asyncio.wait_for(iterator.__anext__(), max(0.0, min(idle, left)))
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise UploadTimeout(
                    f"the upload paused for more than {idle:g} s"
                    if left > idle
                    else f"the upload took more than {deadline:g} s",
                    hint="send the body without long pauses",
                ) from None
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except FormParserError:
        raise UsageError(
            "the upload is not valid multipart/form-data", hint="send it with curl -F or a form"
        ) from None
    if not reader.ended:
        raise UsageError(
            "the upload ended before the multipart body's closing boundary",
            hint="send the whole body (it ends with --BOUNDARY--)",
        )
    if reader.file is None:
        raise UsageError("the upload has no 'file' field", hint="curl -F file=@photo.png ...")
    if not reader.file.data:
        raise UsageError("the uploaded file is empty", hint="send a file with content")
    return Upload(bytes(reader.file.data), reader.file.filename, reader.claimed)
