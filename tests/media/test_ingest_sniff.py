"""Type from the bytes, and names or claimed types that lie."""

from __future__ import annotations

import io
import wave

import pytest

from muxi_cli.errors import MediaError
from muxi_cli.media.ingest import sniff
from muxi_cli.media.sniff import DOCX, PPTX, XLSX

from . import files


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    return out.getvalue()


def _ftyp(brand: bytes) -> bytes:
    return b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00" + brand + b"isom" + bytes(32)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (files.png(), "image/png"),
        (files.photo_with_exif(), "image/jpeg"),
        (b"GIF89a" + bytes(20), "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(20), "image/webp"),
        (_ftyp(b"heic"), "image/heic"),
        (_ftyp(b"M4A "), "audio/mp4"),
        (_ftyp(b"qt  "), "video/quicktime"),
        (_ftyp(b"isom"), "video/mp4"),
        (files.text_pdf(["hi"]), "application/pdf"),
        (files.docx(["x"]), DOCX),
        (files.pptx([("t", "b", "")]), PPTX),
        (files.xlsx({"s": [[1]]}), XLSX),
        (_wav(), "audio/wav"),
        (b"ID3\x04" + bytes(40), "audio/mpeg"),
        (b"\xff\xfb\x90\x64" + bytes(40), "audio/mpeg"),
        (b"OggS\x00\x02" + bytes(30) + b"\x01vorbis", "audio/ogg"),
        (b"fLaC\x00\x00\x00\x22" + bytes(40), "audio/flac"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
        (b"# Title\n\nSome *markdown*.\n", "text/plain"),
        (b'{"a": [1, 2]}', "application/json"),
        (b"<!DOCTYPE html><html><body>x</body></html>", "text/html"),
        ("caf\u00e9 ol\u00e9\n".encode(), "text/plain"),
        (bytes(range(256)) * 4, "application/octet-stream"),
    ],
)
def test_type_from_bytes(data: bytes, expected: str) -> None:
    assert sniff(data) == expected


def test_name_refines_text_and_av_containers() -> None:
    assert sniff(b"a,b\n1,2\n", "data.csv") == "text/csv"
    assert sniff(b"a,b\n1,2\n", None, "text/plain") == "text/plain"
    assert sniff(b"# T\n", "notes.md", "text/plain") == "text/markdown"
    assert sniff(_ftyp(b"isom"), "memo.m4a") == "audio/mp4"
    assert sniff(files.photo_with_exif(), "a.jpg", "image/jpg") == "image/jpeg"
    assert sniff(_wav(), "a.wav", "audio/x-wav") == "audio/wav"
    assert sniff(files.docx(["x"]), "r.docx", "application/zip") == DOCX
    assert sniff(files.png(), "noext", "application/octet-stream") == "image/png"


def test_a_lying_name_or_claim_is_an_error_naming_both() -> None:
    with pytest.raises(MediaError) as err:
        sniff(files.text_pdf(["x"]), "shot.png")
    assert err.value.message == "shot.png is a PDF document, not a PNG image"
    assert err.value.code == "bad_media"
    with pytest.raises(MediaError, match=r"is a PNG image, not a PDF document"):
        sniff(files.png(), None, "application/pdf")
    with pytest.raises(MediaError, match=r"report.docx is a ZIP archive, not a Word document"):
        buf = io.BytesIO()
        import zipfile

        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("a.txt", "x")
        sniff(buf.getvalue(), "report.docx")
    with pytest.raises(MediaError, match=r"notes.txt is a JPEG image, not a text file"):
        sniff(files.photo_with_exif(), "notes.txt")
    with pytest.raises(MediaError, match=r"clip.mp4 is a text file, not an MP4 video"):
        sniff(b"hello", "clip.mp4")


def test_text_that_mentions_pdf_is_not_a_pdf() -> None:
    assert sniff(b"Notes\nThe header is %PDF-1.7 in every file.\n") == "text/plain"


def test_text_starting_like_a_bmp_is_text_and_xml_claims_are_text() -> None:
    assert sniff(b"BMW is a car (a German one) and a fine one.\n") == "text/plain"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><text>hi</text></svg>'
    assert sniff(svg, "logo.svg", "image/svg+xml") == "text/plain"
    assert sniff(b"a: 1\n", "c.yaml", "application/x-yaml") == "text/plain"


def test_utf16_text_from_windows_tools_is_text_not_mp3() -> None:
    from muxi_cli.media.ingest import extract_sync

    data = "name,city\r\nAna,Lisboa\r\n".encode("utf-16")
    assert sniff(data, "export.csv") == "text/csv"
    assert extract_sync(data, "text/csv").text == "name,city\nAna,Lisboa\n"
