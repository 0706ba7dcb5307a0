"""Files the user attaches in the chat app: pasted paths, path completion,
what a chip shows (no Textual here).

Terminals paste a dropped file as its path: quoted (``'/tmp/my file.png'``),
backslash-escaped (``/tmp/my\\ file.png``) or as a ``file://`` URI, several
separated by spaces or new lines. :func:`dropped_paths` recognises such a
paste when every piece names an existing file.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from muxi_cli.protocol.messages import MediaRef

#: Path completion offers at most this many entries.
MAX_COMPLETIONS = 50
#: A text file up to this size goes with the message as text (as before media
#: existed); a larger one, or any other file, goes to the media store.
TEXT_LIMIT = 512 * 1024

_TEXT_TYPES = frozenset(
    {
        "application/json", "application/xml", "application/yaml", "application/x-yaml",
        "application/toml", "application/javascript", "application/x-sh", "application/sql",
    }
)  # fmt: skip

#: Extensions ``mimetypes`` does not know everywhere, read as text.
_TEXT_SUFFIXES = frozenset({".md", ".markdown", ".yaml", ".yml", ".toml", ".log", ".rst", ".ini"})


def expand(text: str) -> Path:
    """``~`` expanded; ``file://`` URIs decoded."""
    if text.startswith("file://"):
        return Path(unquote(urlparse(text).path))
    return Path(os.path.expanduser(text))


def dropped_paths(text: str) -> list[Path] | None:
    """The files a paste names, or None when it is ordinary text."""
    text = text.strip()
    if not text or len(text) > 16_384:
        return None
    single = expand(text)
    if "\n" not in text and _dropped(text, single) and _is_file(single):
        return [single]  # one path with spaces, unquoted
    try:
        pieces = shlex.split(text, posix=True)
    except ValueError:  # an unclosed quote: text, not paths
        return None
    paths = [expand(piece) for piece in pieces]
    if not paths or not all(
        _dropped(t, p) and _is_file(p) for t, p in zip(pieces, paths, strict=True)
    ):
        return None
    return paths


def split_paths(text: str) -> list[Path]:
    """Paths as a shell would split them (quotes, backslashes), ``~`` expanded."""
    try:
        pieces = shlex.split(text, posix=True)
    except ValueError:
        pieces = [text]
    return [expand(piece) for piece in pieces]


def _dropped(typed: str, path: Path) -> bool:
    """A dropped file arrives as an absolute path; a bare ``notes.txt`` is a word."""
    return path.is_absolute() and (typed.startswith(("/", "~", "file://")))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def complete_path(partial: str) -> list[tuple[str, bool]]:
    """``(completed path, is a directory)`` for what the user typed so far.

    ``~`` is expanded; directories end with ``/``; hidden entries show only
    when the typed name starts with a dot.
    """
    typed = os.path.expanduser(partial) if partial else ""
    folder, _, prefix = typed.rpartition("/")
    if typed.startswith("/") and not folder:
        folder = "/"
    base = Path(folder) if folder else Path(".")
    lead = (folder if folder == "/" else folder + "/") if folder else ""
    out: list[tuple[str, bool]] = []
    try:
        with os.scandir(base) as entries:
            for entry in entries:
                name = entry.name
                if not name.startswith(prefix) or (
                    name.startswith(".") and not prefix.startswith(".")
                ):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                out.append((lead + name + ("/" if is_dir else ""), is_dir))
    except OSError:
        return []
    out.sort(key=lambda item: (not item[1], item[0].lower()))
    return out[:MAX_COMPLETIONS]


def guess_type(name: str) -> str:
    """The media type a name suggests (the store checks it against the bytes)."""
    import mimetypes  # deferred: reads the system's type tables on first use

    suffix = Path(name).suffix.lower()
    if suffix in _TEXT_SUFFIXES:
        return "text/markdown" if suffix in (".md", ".markdown") else "text/plain"
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def is_text_type(mime: str) -> bool:
    mime = mime.split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml"))


def kind_of(mime: str) -> str:
    """``image``, ``audio``, ``video``, ``text`` or ``document``."""
    major = mime.split("/", 1)[0].lower()
    if major in ("image", "audio", "video"):
        return major
    return "text" if is_text_type(mime) else "document"


ICONS = {"image": "🖼", "audio": "🎵", "video": "🎬", "text": "📝", "document": "📄"}


def type_label(mime: str) -> str:
    """A short label: ``PNG``, ``PDF``, ``text``, ``MP3`` ..."""
    if is_text_type(mime) and not mime.endswith(("json", "xml", "yaml")):
        return "text"
    sub = mime.split("/", 1)[-1].split(";", 1)[0]
    names = {
        "jpeg": "JPEG", "mpeg": "MP3", "vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
        "vnd.openxmlformats-officedocument.presentationml.presentation": "PPTX",
        "vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX", "octet-stream": "file",
    }  # fmt: skip
    return names.get(sub, sub.removeprefix("x-").upper()[:8])


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # unreachable: the loop returns at GB


def describe(ref: MediaRef) -> str:
    """``name · PNG · 12.3 KB · 640x480`` (dimensions, pages, duration where known)."""
    bits = [ref.name or ref.id[:12], type_label(ref.media_type), human_size(ref.size)]
    meta = ref.meta
    if "width" in meta and "height" in meta:
        bits.append(f"{int(meta['width'])}x{int(meta['height'])}")
    if "pages" in meta:
        pages = int(meta["pages"])
        bits.append(f"{pages} page" + ("" if pages == 1 else "s"))
    if "duration" in meta:
        bits.append(duration(float(meta["duration"])))
    return " · ".join(bits)


def duration(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


@dataclass
class Pending:
    """A file waiting in the input area to go with the next message."""

    path: Path
    size: int
    mime: str
    #: Set once the file is in the media store (a retry does not upload it again).
    ref: MediaRef | None = None
    #: Why the last send could not take it (shown on the chip).
    error: str | None = None
    key: int = field(default=0)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        return kind_of(self.mime)

    @property
    def as_text(self) -> bool:
        """Sent as a text attachment (as before media existed)."""
        return self.kind == "text" and self.size <= TEXT_LIMIT

    def label(self) -> str:
        return f"{ICONS[self.kind]} {self.name} · {type_label(self.mime)} · {human_size(self.size)}"


def pending(path: Path, key: int = 0) -> Pending:
    """A chip for ``path``; OSError when it cannot be read, IsADirectoryError for a folder."""
    path = path.expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; attach the files in it one by one")
    size = path.stat().st_size
    if not os.access(path, os.R_OK):
        raise PermissionError(f"{path} cannot be read (permission denied)")
    return Pending(path=path.resolve(), size=size, mime=guess_type(path.name), key=key)
