"""The type of a file from its bytes, checked against its name and claimed type.

Our own signature table rather than puremagic: it is exact for the formats
muxi reads (puremagic guesses among hundreds of signatures, some ambiguous,
and imports a 500 kB JSON database), it looks inside ZIP-based office files
and ISO media boxes, and it costs nothing to import.
"""

from __future__ import annotations

import io
from pathlib import PurePath

from muxi_cli.errors import MediaError

OCTET = "application/octet-stream"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OFFICE = frozenset({DOCX, PPTX, XLSX})
TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/csv", "text/html", "application/json"})

#: What a person calls each type, for error messages.
LABELS = {
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "image/gif": "a GIF image",
    "image/webp": "a WebP image",
    "image/heic": "a HEIC image",
    "image/avif": "an AVIF image",
    "image/tiff": "a TIFF image",
    "image/bmp": "a BMP image",
    "application/pdf": "a PDF document",
    DOCX: "a Word document",
    PPTX: "a PowerPoint presentation",
    XLSX: "an Excel workbook",
    "application/zip": "a ZIP archive",
    "audio/wav": "a WAV audio file",
    "audio/mpeg": "an MP3 audio file",
    "audio/aac": "an AAC audio file",
    "audio/mp4": "an M4A audio file",
    "audio/ogg": "an Ogg audio file",
    "audio/flac": "a FLAC audio file",
    "audio/webm": "a WebM audio file",
    "video/mp4": "an MP4 video",
    "video/quicktime": "a QuickTime video",
    "video/webm": "a WebM video",
    "video/ogg": "an Ogg video",
    "video/x-matroska": "a Matroska video",
    "video/x-msvideo": "an AVI video",
    "text/plain": "a text file",
    "text/markdown": "a Markdown file",
    "text/csv": "a CSV file",
    "text/html": "an HTML page",
    "application/json": "a JSON file",
    OCTET: "binary data of a kind muxi does not read",
}

#: File name extension -> type it promises.
EXTENSIONS = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jpe": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heic",
    "avif": "image/avif",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "pdf": "application/pdf",
    "docx": DOCX,
    "pptx": PPTX,
    "xlsx": XLSX,
    "zip": "application/zip",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "flac": "audio/flac",
    "weba": "audio/webm",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "ogv": "video/ogg",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
    "txt": "text/plain",
    "text": "text/plain",
    "log": "text/plain",
    "md": "text/markdown",
    "markdown": "text/markdown",
    "csv": "text/csv",
    "html": "text/html",
    "htm": "text/html",
    "json": "application/json",
}

#: Other spellings of the same type (claimed by browsers, curl, old tools).
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/heif": "image/heic",
    "image/x-ms-bmp": "image/bmp",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/x-flac": "audio/flac",
    "audio/opus": "audio/ogg",
    "application/ogg": "audio/ogg",
    "application/x-pdf": "application/pdf",
    "application/x-zip-compressed": "application/zip",
    "text/x-markdown": "text/markdown",
    "video/x-quicktime": "video/quicktime",
}

# Containers whose bytes cannot tell audio from video (or one text kind from
# another): a claim inside the same family is believed, not contradicted.
_FAMILIES = {
    "mp4": frozenset({"video/mp4", "audio/mp4", "video/quicktime"}),
    "ogg": frozenset({"audio/ogg", "video/ogg"}),
    "webm": frozenset({"video/webm", "audio/webm", "video/x-matroska"}),
    "text": TEXT_TYPES,
}


_BMP_HEADERS = frozenset({b"\x0c", b"(", b"4", b"8", b"l", b"|"})
#: Claimed types that are text to muxi (it reads them as text, nothing more).
_TEXTUAL = frozenset(
    {"application/xml", "application/javascript", "application/x-yaml", "application/yaml",
     "application/toml", "application/x-sh", "application/sql"}
)  # fmt: skip


def canonical(media_type: str | None) -> str | None:
    if not media_type:
        return None
    base = media_type.split(";", 1)[0].strip().lower()
    if not base or base == OCTET:
        return None
    if (base.startswith("text/") and base not in TEXT_TYPES) or base in _TEXTUAL:
        return "text/plain"  # text/x-python, YAML, XML...: text all the same
    if base.endswith("+xml") or base.endswith("+json"):
        return "text/plain"  # SVG, Atom, JSON-LD: muxi reads them as text
    return ALIASES.get(base, base)


def from_name(name: str | None) -> str | None:
    if not name:
        return None
    suffix = PurePath(name).suffix.lower().lstrip(".")
    return EXTENSIONS.get(suffix)


def label(media_type: str) -> str:
    return LABELS.get(media_type, media_type)


def _family(media_type: str) -> str:
    for key, members in _FAMILIES.items():
        if media_type in members:
            return key
    return media_type


def _iso_media(data: bytes) -> str:
    """The type of an ISO base media file (``....ftyp<brand>``) from its brands."""
    brands = {data[8:12]}
    size = int.from_bytes(data[0:4], "big")
    for at in range(16, min(size, 64), 4):
        brands.add(data[at : at + 4])
    if brands & {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}:
        return "image/avif" if b"avif" in brands or b"avis" in brands else "image/heic"
    if brands & {b"avif", b"avis"}:
        return "image/avif"
    if data[8:12] in (b"M4A ", b"M4B ", b"F4A "):
        return "audio/mp4"
    if data[8:12] == b"qt  ":
        return "video/quicktime"
    return "video/mp4"


def _zip_kind(data: bytes) -> str:
    """docx, pptx, xlsx or a plain ZIP: office files say so in their part names."""
    import zipfile  # deferred: 30 ms of imports (bz2, lzma, shutil) only ZIPs need

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return "application/zip"  # a damaged archive: the opener says how
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return DOCX
        if "ppt/presentation.xml" in names:
            return PPTX
        if "xl/workbook.xml" in names:
            return XLSX
    return "application/zip"


def _binary(data: bytes) -> str | None:
    """The type a signature names, or ``None``."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(
            head[8:12]
        )
    if head[4:8] == b"ftyp":
        return _iso_media(head)
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"BM") and head[6:10] == bytes(4) and head[14:15] in _BMP_HEADERS:
        return "image/bmp"  # "BM" alone starts too much text: reserved zeros, a known header
    if data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    if head.startswith(b"OggS"):
        return "video/ogg" if b"theora" in data[:256] else "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in data[:64] else "video/x-matroska"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 3
        if layer == 0 and head[1] & 0xF6 == 0xF0:
            return "audio/aac"  # ADTS
        if layer in (1, 2, 3):
            return "audio/mpeg"
    return None


def _utf16(data: bytes) -> bool:
    """Text with a UTF-16 byte-order mark (what Windows tools export)."""
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    try:
        data[: 65536 & ~1].decode("utf-16")
    except UnicodeDecodeError:
        return False
    return True


def _text(data: bytes) -> str | None:
    """A text type when the bytes are UTF-8 text (a sample is enough), else ``None``."""
    sample = data[:65536]
    if b"\x00" in sample:
        return None
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample's end is still text.
        if exc.start < len(sample) - 4 or len(data) <= len(sample):
            return None
        text = sample[: exc.start].decode("utf-8")
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    if stripped.startswith(("<!doctype html", "<html")) or "<body" in stripped[:2048]:
        return "text/html"
    if stripped[:1] in ("{", "[") and len(data) <= 1 << 20:
        import json  # deferred: only JSON-looking text pays for it

        try:
            json.loads(data.decode("utf-8"))
            return "application/json"
        except ValueError:
            pass
    return "text/plain"


def sniff(data: bytes, name: str | None = None, claimed: str | None = None) -> str:
    """The file's type from its bytes; a :class:`MediaError` naming both when
    its name or claimed type says something else.

    Only harmless differences pass: another spelling of the type (``jpg`` for
    ``jpeg``), one text kind for another (CSV sent as text), audio vs video in
    containers that hold either. There the claim refines the type (a ``.csv``
    stays CSV, an ``.m4a`` is audio).
    """
    found = "text/plain" if _utf16(data) else _binary(data) or _text(data) or OCTET
    for promised, source in ((canonical(claimed), "claimed"), (from_name(name), "name")):
        if promised is None or promised == found:
            continue
        if promised == "application/zip" and found in OFFICE:
            continue  # an office file is a ZIP archive
        if _family(promised) == _family(found):
            found = promised
            continue
        who = name or "the upload"
        said = f" (sent as {claimed})" if source == "claimed" else ""
        raise MediaError(
            f"{who}{said} is {label(found)}, not {label(promised)}",
            "check that this is the file you meant, or rename it to match what it is",
        )
    return found
