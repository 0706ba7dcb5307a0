"""Tables and notices printed without rich, when rich would print exactly the same.

Importing rich's console, markup and table costs ~20 ms, a tenth of a warm
``muxi memory search`` through the local host. In a pipe (no terminal, so no
styles) with plain ASCII cells, what rich prints is simple: each column padded
to its width, columns two spaces apart, the wrapping ones word-wrapped by
rich's own line breaker (``rich._wrap``, which imports none of the rest). Anything
else (a terminal, a forced colour, markup characters, emoji codes, wide or
control characters, a width rich would measure itself) returns False and the
caller prints with rich. tests/cli/test_plainout.py compares both on many tables.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from muxi_cli.cli.output import Column

#: Printable ASCII without what rich reads as markup (``[``, ``\\``) or emoji codes (``:``).
_PLAIN = re.compile(r"[ !-9;-Z^-~]*")
#: Environment variables that make rich treat a pipe as a terminal.
_FORCING = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


def plain_width(stream: TextIO, pipe_width: int) -> int | None:
    """The width rich would use for ``stream`` when it prints no styles; None otherwise."""
    isatty = getattr(stream, "isatty", None)
    if not callable(isatty) or isatty() or any(os.environ.get(v) for v in _FORCING):
        return None
    columns = os.environ.get("COLUMNS")
    if columns is None or columns == "":
        return pipe_width
    return int(columns) if columns.isdigit() else None


def is_plain(text: str) -> bool:
    """True when rich renders ``text`` (as markup) as itself, one cell per character."""
    return _PLAIN.fullmatch(text) is not None


def print_table(
    columns: Sequence[Column], rows: list[list[str]], widths: list[int], stream: TextIO
) -> None:
    """What ``rich.table.Table(box=None, pad_edge=False)`` prints for plain cells at ``widths``."""
    from rich._wrap import divide_line  # the line breaker alone: no console, no markup

    out: list[str] = []
    for cells in [[c.header for c in columns], *rows]:
        blocks: list[list[str]] = []
        for col, text, width in zip(columns, cells, widths, strict=True):
            lines = [text]
            if col.wrap:
                breaks = [0, *divide_line(text, width), len(text)]
                lines = [text[a:b] for a, b in pairwise(breaks)]
            # rich trims a line's spaces beyond the width, then pads it to the width.
            lines = [line.rstrip() if len(line) > width else line for line in lines]
            blocks.append(
                [
                    line.rjust(width) if col.justify == "right" else line.ljust(width)
                    for line in lines
                ]
            )
        height = max(len(b) for b in blocks)
        for n in range(height):
            parts = [b[n] if n < len(b) else " " * w for b, w in zip(blocks, widths, strict=True)]
            out.append("  ".join(parts))
    stream.write("\n".join(out) + "\n")


def print_notice(message: str, pipe_width: int, stream: TextIO | None = None) -> bool:
    """Print ``message`` as :func:`~muxi_cli.cli.output.info` would in a pipe; False
    (nothing printed) when that takes rich."""
    stream = stream or sys.stderr
    width = plain_width(stream, pipe_width)
    if width is None or not is_plain(message) or len(message) > width:
        return False
    stream.write(message + "\n")
    return True
