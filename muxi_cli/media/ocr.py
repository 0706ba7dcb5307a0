"""Offline OCR with RapidOCR on onnxruntime (its models ship in the wheel).

One engine per process, loaded on first use (about a second) and shared. The
engine keeps per-call state (thresholds, buffers), so calls are serialised by
a lock; the machines muxi runs on rarely have the cores to OCR two pages at
once anyway.
"""

from __future__ import annotations

import io
import logging
import threading
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MediaError

if TYPE_CHECKING:
    from PIL.Image import Image

_LOCK = threading.Lock()
_ENGINE: Any = None
#: Boxes recognised with less confidence than this are dropped (noise, dots).
MIN_SCORE = 0.5


def _engine() -> Any:
    """The process's engine (call with ``_LOCK`` held)."""
    global _ENGINE
    if _ENGINE is None:
        from rapidocr_onnxruntime import RapidOCR  # deferred: onnxruntime, cv2, the models

        # RapidOCR logs every call at INFO; muxi's own logging says what matters.
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        _ENGINE = RapidOCR()
    return _ENGINE


def _as_rgb(data: bytes | Image) -> Image:
    from PIL import Image  # deferred: Pillow

    image: Image.Image
    if isinstance(data, bytes | bytearray):
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise MediaError(f"cannot OCR this image: {exc}", "attach a PNG or JPEG") from exc
    else:
        image = data
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Transparent pixels would read as black: text on a clear background vanishes.
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def reading_order(boxes: list[tuple[float, float, float, str]]) -> str:
    """Lines of text from ``(top, bottom, left, text)`` boxes: boxes whose
    vertical middles fall within half a line of each other form a line, read
    left to right; lines top to bottom."""
    if not boxes:
        return ""
    ordered = sorted(boxes, key=lambda b: (b[0] + b[1]) / 2)
    heights = sorted(b[1] - b[0] for b in ordered)
    tolerance = max(heights[len(heights) // 2] / 2, 1.0)
    lines: list[list[tuple[float, float, float, str]]] = []
    middle = None
    for box in ordered:
        centre = (box[0] + box[1]) / 2
        if middle is None or centre - middle > tolerance:
            lines.append([box])
            middle = centre
        else:
            lines[-1].append(box)
    return "\n".join(" ".join(b[3] for b in sorted(line, key=lambda b: b[2])) for line in lines)


def ocr_image(data: bytes | Image) -> str:
    """The text in an image (encoded bytes or a Pillow image), in reading order."""
    image = _as_rgb(data)  # RapidOCR turns a Pillow image's RGB into its BGR
    with _LOCK:
        result, _elapsed = _engine()(image)
    boxes = []
    for points, text, score in result or ():
        if float(score) < MIN_SCORE or not str(text).strip():
            continue
        ys = [float(p[1]) for p in points]
        xs = [float(p[0]) for p in points]
        boxes.append((min(ys), max(ys), min(xs), str(text).strip()))
    return reading_order(boxes)
