"""Offline OCR: reading order, transparency, one engine shared by threads."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

from muxi_cli.media.ocr import ocr_image, reading_order

from . import files


def test_reading_order_groups_lines_and_reads_left_to_right() -> None:
    boxes = [
        (52.0, 80.0, 400.0, "world"),
        (10.0, 40.0, 300.0, "second"),
        (50.0, 78.0, 10.0, "hello"),
        (12.0, 38.0, 10.0, "first"),
    ]
    assert reading_order(boxes) == "first second\nhello world"
    assert reading_order([]) == ""


def test_ocr_reads_lines_in_order() -> None:
    image = files.text_image(["Invoice number 4471", "Pay before Friday"], (1000, 260))
    assert ocr_image(image) == "Invoice number 4471\nPay before Friday"


def test_text_on_a_transparent_background_is_read() -> None:
    image = files.text_image(["Clear background"], (800, 160), mode="RGBA")
    buf = io.BytesIO()
    image.save(buf, "PNG")
    assert ocr_image(buf.getvalue()) == "Clear background"


def test_one_engine_serves_several_threads() -> None:
    images = [files.text_image([f"Thread number {i}"], (800, 160)) for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        texts = list(pool.map(ocr_image, images))
    assert texts == [f"Thread number {i}" for i in range(3)]
