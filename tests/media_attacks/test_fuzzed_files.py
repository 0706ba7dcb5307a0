"""Review of issue 16: files from a quick mutation fuzz of normalize/extract.

Each raised something other than a MuxiError on main:

- fuzz-missing-dimensions.tif: ``TypeError: Missing dimensions`` from Pillow in
  normalize(); ``POST /v1/media`` answers 500 internal_error.
- fuzz-bad-page.pdf: accepted at upload (pdf_meta counts pages only), then
  ``PdfiumError: Failed to load page.`` in pdf_extract; over the server every
  turn of a session holding it fails with internal_error.
- fuzz-bad-sheet.xlsx: ``ParseError`` from openpyxl's read-only sheet reader,
  same effect.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from muxi_cli.errors import MediaError
from muxi_cli.media.ingest import extract_sync, normalize

FILES = Path(__file__).parent / "files"


@pytest.mark.parametrize(
    "name", ["fuzz-missing-dimensions.tif", "fuzz-bad-page.pdf", "fuzz-bad-sheet.xlsx"]
)
def test_a_damaged_file_is_a_media_error(name: str) -> None:
    data = (FILES / name).read_bytes()
    with pytest.raises(MediaError):
        found = normalize(data, None, None)
        extract_sync(found.data, found.media_type, ocr=False)
