"""What ``muxi chat --attach`` sends: files, URLs and piped bytes as attachments.

Text (``.txt``, ``.md``, ``.csv``, source code: UTF-8 without NULs) stays a
text attachment that joins the message. Anything else is stored through
:meth:`Runtime.put_media <muxi_cli.runtime.base.Runtime.put_media>` (locally,
or uploaded to a server) and the request names it by ``media_id``; the type
is decided from the bytes there, never from the name.

Every check that can fail runs before anything is stored: a missing,
unreadable, empty or too large file stops the command with exit 2 and the
store untouched. Sizes are checked with ``stat`` (a 2 GB file is never read)
and downloads are counted while they stream.
"""

from __future__ import annotations

import io
import mimetypes
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from muxi_cli.errors import ConnectionFailedError, MediaError, MediaTooLargeError, UsageError

if TYPE_CHECKING:
    from muxi_cli.protocol.events import MediaFailed, MediaProcessed
    from muxi_cli.protocol.records import Attachment
    from muxi_cli.runtime.base import Runtime

#: A runtime that does not say its per-file limit gets this one (the media
#: store's default; a server refuses larger uploads with 413 anyway).
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: Redirects a download may follow.
MAX_REDIRECTS = 5
#: Seconds a download may wait for the next bytes.
DOWNLOAD_TIMEOUT = 30.0

#: Text types the engine joins to the message as text (core/attachments.py).
_TEXT_APPLICATION_TYPES = frozenset(
    {
        "application/json", "application/xml", "application/yaml", "application/x-yaml",
        "application/toml", "application/javascript", "application/x-sh", "application/sql",
    }
)  # fmt: skip

#: Leading bytes of binary formats whose first bytes may still be ASCII (a PDF
#: is often 7-bit clean), so "decodes as UTF-8" alone would call them text.
_MAGIC = (
    b"%PDF-", b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF", b"PK\x03\x04",
    b"ID3", b"OggS", b"fLaC", b"\x1aE\xdf\xa3", b"II*\x00", b"MM\x00*",
    b"\xd0\xcf\x11\xe0",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Source:
    """One ``--attach`` value: a local file or an http(s) URL."""

    spec: str
    path: Path | None = None
    url: str | None = None


@dataclass(slots=True)
class Loaded:
    """An attachment's bytes, read but not yet stored."""

    name: str
    data: bytes


def is_url(spec: str) -> bool:
    return "://" in spec[:16]


def check_sources(specs: list[str]) -> list[Source]:
    """Each ``--attach`` value checked without reading it: URLs must be http(s),
    files must exist, be regular files, readable and not empty."""
    out: list[Source] = []
    for spec in specs:
        if is_url(spec):
            _check_url(spec)
            out.append(Source(spec, url=spec))
            continue
        path = Path(spec).expanduser()
        try:
            info = path.stat()
        except FileNotFoundError:
            raise MediaError(
                f"--attach {spec}: no such file", hint="check the path (relative to this folder)"
            ) from None
        except OSError as exc:
            raise MediaError(f"--attach {spec}: cannot read it: {exc.strerror or exc}") from None
        if stat.S_ISDIR(info.st_mode):
            raise MediaError(
                f"--attach {spec} is a folder", hint="attach the files in it one by one"
            )
        if not stat.S_ISREG(info.st_mode):
            raise MediaError(f"--attach {spec} is not a regular file")
        if not os.access(path, os.R_OK):
            raise MediaError(f"--attach {spec}: permission denied", hint="check its permissions")
        if info.st_size == 0:
            raise MediaError(f"--attach {spec} is empty", hint="there is nothing in it to send")
        out.append(Source(spec, path=path))
    return out


def _check_url(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise MediaError(
            f"--attach {url}: only http and https URLs can be downloaded",
            hint="download it yourself and attach the file",
        )
    if not urlsplit(url).hostname:
        raise MediaError(f"--attach {url}: the URL has no host")


def _too_large(label: str, size: int | None, limit: int) -> MediaTooLargeError:
    what = f"{size:,} bytes" if size is not None else f"over {limit:,} bytes"
    return MediaTooLargeError(
        f"{label} is {what}; an attachment may be at most {limit:,} bytes",
        hint="send a smaller file (scale the image down, or split the document)",
    )


def read_file(source: Source, limit: int) -> Loaded:
    """A file's bytes, its size checked first (a larger file is never read)."""
    assert source.path is not None
    path = source.path
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise _too_large(source.spec, size, limit)
            data = fh.read(limit + 1)  # the file may have grown since the stat
    except PermissionError:
        raise MediaError(
            f"--attach {source.spec}: permission denied", hint="check its permissions"
        ) from None
    except OSError as exc:
        raise MediaError(f"--attach {source.spec}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise _too_large(source.spec, None, limit)
    if not data:
        raise MediaError(f"--attach {source.spec} is empty", hint="there is nothing in it to send")
    return Loaded(path.name, data)


async def download(source: Source, limit: int) -> Loaded:
    """A URL's bytes: redirects followed (at most :data:`MAX_REDIRECTS`, http(s)
    only), the size counted while streaming and refused past ``limit``."""
    import httpx  # deferred: httpx is slow to import, and only URLs need it

    url = source.spec
    timeout = httpx.Timeout(DOWNLOAD_TIMEOUT, connect=10.0)
    async with httpx.AsyncClient(follow_redirects=False, timeout=timeout) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            _check_url(url)
            try:
                async with client.stream("GET", url) as resp:
                    if resp.is_redirect:
                        url = urljoin(url, resp.headers.get("location", ""))
                        continue
                    if resp.status_code >= 400:
                        raise MediaError(
                            f"--attach {source.spec}: the server answered HTTP {resp.status_code}",
                            hint="check the URL",
                        )
                    data = await _read_capped(resp, source.spec, limit)
            except httpx.HTTPError as exc:
                raise ConnectionFailedError(
                    f"--attach {source.spec}: could not download it: {exc}",
                    hint="check the URL and your network",
                ) from None
            if not data:
                raise MediaError(f"--attach {source.spec}: the download is empty")
            return Loaded(_url_name(url), data)
    raise MediaError(
        f"--attach {source.spec}: more than {MAX_REDIRECTS} redirects",
        hint="attach the final URL, or download the file yourself",
    )


async def _read_capped(resp: object, label: str, limit: int) -> bytes:
    import httpx  # deferred: see download()

    assert isinstance(resp, httpx.Response)
    declared = resp.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(label, int(declared), limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.aiter_bytes():
        total += len(chunk)
        if total > limit:  # stop here: a lying or missing Content-Length is no way around it
            raise _too_large(label, None, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _url_name(url: str) -> str:
    parts = urlsplit(url)
    last = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    return last or parts.hostname or "download"


def read_stdin(stream: IO[bytes], limit: int) -> Loaded | str:
    """Piped stdin: text (returned as ``str``, whatever its size, as always) or
    binary data (a :class:`Loaded` named ``stdin``, at most ``limit`` bytes)."""
    head = stream.read(limit + 1)
    if not looks_binary(head, truncated=len(head) > limit):
        return _text(head + stream.read())
    if len(head) > limit:
        raise _too_large("the piped data", None, limit)
    return Loaded("stdin", head)


def read_message(stream: IO[bytes]) -> str:
    """Piped stdin as the message itself (``muxi chat -``): text only."""
    data = stream.read()
    if looks_binary(data):
        raise UsageError(
            "stdin holds binary data, not a message",
            hint='give the message as an argument: cat scan.pdf | muxi chat "summarise"',
        )
    return _text(data)


def _text(data: bytes) -> str:
    """Decoded as text-mode stdin always was (universal newlines)."""
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def looks_binary(data: bytes, *, truncated: bool = False) -> bool:
    """Binary: a NUL byte, a known binary signature, or not UTF-8."""
    if data.startswith(_MAGIC) or data[4:8] == b"ftyp" or b"\x00" in data[:65536]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A read cut at the limit may end inside a character: that is still text.
        return not (truncated and exc.start >= len(data) - 3)
    return False


def text_type(name: str) -> str | None:
    """The type of a text attachment named ``name``, or ``None`` when the name
    says it is a binary format (a ``.pdf`` is never sent as text)."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None:
        return "text/plain"
    if guessed.startswith("text/") or guessed in _TEXT_APPLICATION_TYPES:
        return guessed
    if guessed.endswith(("+json", "+xml")):
        return guessed
    return None


def limit_of(runtime: Runtime) -> int:
    """The runtime's per-file limit (the media store's, locally)."""
    # Not part of the Runtime protocol: test fakes and older runtimes lack it.
    return int(getattr(runtime, "media_max_bytes", None) or DEFAULT_MAX_BYTES)


async def load_all(sources: list[Source], limit: int) -> list[Loaded]:
    """Every source's bytes, before any is stored (so a bad one stores nothing)."""
    out: list[Loaded] = []
    for source in sources:
        if source.url is not None:
            out.append(await download(source, limit))
        else:
            out.append(read_file(source, limit))
    return out


async def store_all(
    runtime: Runtime, loaded: list[Loaded], user_id: str | None
) -> list[Attachment]:
    """Text stays text; everything else goes to the runtime's media store."""
    from muxi_cli.protocol.records import Attachment  # deferred: keeps start-up light

    texts: list[Attachment] = []
    media: list[Loaded] = []
    for item in loaded:
        mime = text_type(item.name)
        if mime is not None and not looks_binary(item.data):
            texts.append(Attachment(name=item.name, content=item.data.decode("utf-8"), mime=mime))
        else:
            media.append(item)
    stored: list[Attachment] = []
    for item in media:
        ref = await runtime.put_media(item.data, name=item.name, user_id=user_id)
        stored.append(Attachment(name=ref.name or item.name, mime=ref.media_type, media_id=ref.id))
    return texts + stored


class Replayable(io.BytesIO):
    """Piped stdin that keeps what was read, so ``seek(0)`` reads it again: a turn
    the warm host refused (it began draining) is sent again in this process."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__()
        self._stream = stream

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)  # what was kept, from the current position
        want = -1 if size is None or size < 0 else size - len(data)
        if want:
            fresh = self._stream.read(want)
            super().write(fresh)  # at the end: the read above reached it
            data += fresh
        return data


@dataclass(slots=True)
class Inputs:
    """What goes along with the message: MCP resources, ``--attach`` values, piped stdin."""

    resources: list[tuple[str, str]]
    files: list[Source]
    stdin: IO[bytes] | None


async def collect(runtime: Runtime, inputs: Inputs, user_id: str | None) -> list[Attachment]:
    """Piped stdin and ``--attach`` values as attachments. Everything is read (and
    checked against the runtime's limit) before the first file is stored."""
    if inputs.stdin is None and not inputs.files:
        return []
    from muxi_cli.protocol.records import Attachment  # deferred: keeps start-up light

    limit = limit_of(runtime)
    texts: list[Attachment] = []
    loaded: list[Loaded] = []
    if inputs.stdin is not None:
        piped = read_stdin(inputs.stdin, limit)
        if isinstance(piped, str):
            if piped.strip():
                texts.append(Attachment(name="stdin", content=piped))
        else:
            loaded.append(piped)
    loaded += await load_all(inputs.files, limit)
    return texts + await store_all(runtime, loaded, user_id)


def media_line(event: MediaProcessed) -> str:
    """``scan.pdf (application/pdf, 3 pages, text+ocr)``: one processed attachment."""
    meta = event.meta
    facts = [event.media_type] if event.media_type else []
    if "width" in meta and "height" in meta:
        facts.append(f"{int(meta['width'])}x{int(meta['height'])}")
    if "pages" in meta:
        pages = int(meta["pages"])
        facts.append(f"{pages} page{'' if pages == 1 else 's'}")
    if "duration" in meta:
        facts.append(f"{float(meta['duration']):.1f} s")
    if event.derived:
        facts.append("+".join(event.derived))
    name = event.name or event.media_id[:12]
    return f"{name} ({', '.join(facts)})" if facts else name


def media_summary(event: MediaProcessed | MediaFailed) -> dict[str, Any]:
    """A ``media.processed``/``media.failed`` event without its envelope (``-o json``)."""
    from muxi_cli.protocol.events import to_dict  # deferred: the event codec (~10 ms)

    envelope = ("v", "run_id", "session_id", "ts", "parent_run_id", "depth")
    return {k: v for k, v in to_dict(event).items() if k not in envelope}
