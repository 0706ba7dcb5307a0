"""Whether the terminal shows images (Kitty graphics or Sixel), and the
``textual-image`` widget that draws them (no Textual import at module level).

``textual-image`` picks its renderer when it is first imported, by writing
queries to the terminal and reading the answers from stdin. Once Textual
runs, its input thread owns stdin, so those queries would time out (and
their answers arrive as key presses). The chat app therefore decides from the
environment, which costs nothing at start-up, and imports ``textual-image``
only when the first image is shown, with its own queries turned off.

``MUXI_IMAGES=kitty|sixel|off`` overrides the guess.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any, Literal

log = logging.getLogger(__name__)

Protocol = Literal["kitty", "sixel"]

#: Images larger than this are not fetched for display (the placeholder says what they are).
MAX_IMAGE_BYTES = 20 * 1024 * 1024
#: Shown at most this many cells wide / high.
MAX_COLUMNS = 60
MAX_ROWS = 16

_SIXEL_PROGRAMS = frozenset({"wezterm", "iterm.app", "mintty", "konsole", "foot", "contour"})
_SIXEL_TERMS = ("foot", "mlterm", "contour", "yaft", "xterm-sixel")

_lock = threading.Lock()
_widgets: dict[str, type[Any]] = {}


def detect(environ: Mapping[str, str] | None = None) -> Protocol | None:
    """The graphics protocol this terminal speaks, guessed from its environment."""
    env = os.environ if environ is None else environ
    forced = env.get("MUXI_IMAGES", "").strip().lower()
    if forced in ("kitty", "sixel"):
        return forced  # type: ignore[return-value]
    if forced in ("off", "0", "no", "none", "text"):
        return None
    if env.get("TMUX") or env.get("STY"):
        return None  # multiplexers pass graphics through only when configured to
    term = env.get("TERM", "").lower()
    program = env.get("TERM_PROGRAM", "").lower()
    if env.get("KITTY_WINDOW_ID") or term == "xterm-kitty" or program == "ghostty":
        return "kitty"
    if program in _SIXEL_PROGRAMS or env.get("KONSOLE_VERSION") or env.get("WT_SESSION"):
        return "sixel"
    if term.startswith(_SIXEL_TERMS):
        return "sixel"
    return None


class _NotATerminal:
    """Stands in for ``sys.__stdout__`` while textual-image is imported, so it
    sends no terminal queries (Textual reads the answers otherwise)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _cell_size() -> tuple[int, int]:
    """Pixels per cell from the terminal's window size (an ioctl: no reply to wait for)."""
    try:
        import fcntl  # deferred: POSIX only
        import struct
        import termios

        out = sys.__stdout__
        if out is not None and out.isatty():
            packed = fcntl.ioctl(out.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
            rows, cols, width, height = struct.unpack("HHHH", packed)
            if rows and cols and width and height:
                return width // cols, height // rows
    except (ImportError, OSError, ValueError):
        pass
    width, height = (
        os.environ.get("TEXTUAL_CELL_WIDTH", ""),
        os.environ.get("TEXTUAL_CELL_HEIGHT", ""),
    )
    if width.isdigit() and height.isdigit():
        return int(width), int(height)
    return 10, 20  # textual-image's own default (a VT340's cell)


def image_widget(protocol: Protocol) -> type[Any]:
    """The textual-image widget class for ``protocol`` (imported on first use; call
    it off the UI thread: it loads Pillow)."""
    with _lock:
        found = _widgets.get(protocol)
        if found is not None:
            return found
        from textual_image import _terminal  # deferred: Pillow and textual-image (~80 ms)

        if not hasattr(_terminal.get_cell_size, "_result"):
            _terminal.get_cell_size._result = _terminal.CellSize(*_cell_size())  # type: ignore[attr-defined]
        real = sys.__stdout__
        sys.__stdout__ = _NotATerminal(real)  # type: ignore[misc,assignment]
        try:
            from textual_image import widget
        finally:
            sys.__stdout__ = real  # type: ignore[misc]
        cls: type[Any] = widget.TGPImage if protocol == "kitty" else widget.SixelImage
        _widgets[protocol] = cls
        return cls


def decode(data: bytes, max_pixels: int = 40_000_000) -> Any:
    """A Pillow image ready to draw, shrunk to what the screen can show (off the UI thread)."""
    import io

    from PIL import Image  # deferred: Pillow (~40 ms)

    image = Image.open(io.BytesIO(data))
    if image.width * image.height > max_pixels:
        raise ValueError(f"{image.width}x{image.height} is too many pixels to show")
    # At most MAX_COLUMNS x MAX_ROWS cells: the widget sizes itself from the pixels.
    cell_width, cell_height = _cell_size()
    box = (MAX_COLUMNS * cell_width, MAX_ROWS * cell_height)
    image.draft("RGB", box)
    image.load()
    image.thumbnail(box)
    return image
