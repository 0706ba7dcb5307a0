"""Real media files made by the tests (Pillow, python-docx, espeak-ng, ffmpeg)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

GPS_TAG = 0x8825
ORIENTATION_TAG = 0x0112


def photo(width: int = 3000, height: int = 2000, fmt: str = "PNG", *, text: str = "") -> bytes:
    """A ``width`` x ``height`` picture stored sideways (EXIF orientation 6: shown
    rotated 90 degrees) with a GPS position in its EXIF, as a phone writes it."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 4, height // 4), fill=(20, 20, 220))
    if text:
        draw.text((20, 20), text, fill=(0, 0, 0), font=ImageFont.load_default(size=64))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    exif[GPS_TAG] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    buf = io.BytesIO()
    image.save(buf, fmt, exif=exif)
    return buf.getvalue()


def noise(width: int, height: int) -> bytes:
    """Random pixels as a PNG: it does not compress (about 3 bytes a pixel)."""
    import os

    buf = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buf, "PNG")
    return buf.getvalue()


def text_image(text: str) -> bytes:
    """Black words on white, large enough for OCR."""
    image = Image.new("RGB", (900, 200), "white")
    ImageDraw.Draw(image).text((30, 50), text, fill="black", font=ImageFont.load_default(size=72))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def scanned_pdf(text: str, pages: int = 1) -> bytes:
    """A PDF whose pages are only images (no text layer), as a scanner makes."""
    images = []
    for i in range(pages):
        page = Image.new("RGB", (1240, 1754), "white")
        ImageDraw.Draw(page).text(
            (100, 200), f"{text} {i + 1}", fill="black", font=ImageFont.load_default(size=80)
        )
        images.append(page)
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:], resolution=150)
    return buf.getvalue()


def text_pdf(text: str) -> bytes:
    """A one-page PDF with a text layer (written by hand: Pillow writes images only)."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def docx(text: str) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    document.add_paragraph(text)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def spoken_wav(text: str, tmp: Path) -> bytes:
    """``text`` spoken by espeak-ng, as a WAV file."""
    path = tmp / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path.read_bytes()


def short_video(tmp: Path, seconds: int = 2) -> bytes:
    """An MP4 with moving colour bars and a tone, made with ffmpeg."""
    import imageio_ffmpeg

    path = tmp / "clip.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=320x240:rate=10",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-pix_fmt", "yuv420p", "-shortest", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path.read_bytes()


def exif_of(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif())


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size
