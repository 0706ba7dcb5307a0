"""Attached and returned media in the transcript: an image drawn inline where
the terminal shows graphics (Kitty or Sixel, see :mod:`muxi_cli.tui.graphics`),
a one-line placeholder (name, type, size, dimensions) everywhere else.

The bytes are fetched through the app's runtime (``Runtime.get_media``) only
for images, only when the entry is mounted, and decoded in a thread; a few
decoded images are kept so scrolling back does not fetch them again.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from muxi_cli import parts
from muxi_cli.tui import files, graphics

if TYPE_CHECKING:
    from muxi_cli.protocol.messages import MediaRef

log = logging.getLogger(__name__)

#: Decoded images kept across re-mounts (the transcript mounts a window of entries).
_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_SIZE = 8
_SHOWN_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")


def placeholder(ref: MediaRef) -> Text:
    text = Text()
    text.append(files.ICONS[files.kind_of(ref.media_type)] + " ", style="bold")
    text.append(files.describe(ref))
    return text


def protocol_for(app: Any) -> graphics.Protocol | None:
    """Graphics for this app: never under the headless test driver unless forced."""
    if not hasattr(app, "_muxi_graphics"):
        found = graphics.detect()
        if app.is_headless and not os.environ.get("MUXI_IMAGES"):
            found = None
        if found is not None and not parts.has("media"):
            # Pictures need Pillow and textual-image (muxi-cli[media]): without
            # them the placeholder line stands for the file, as in a plain terminal.
            found = None
        app._muxi_graphics = found
    cached: graphics.Protocol | None = app._muxi_graphics
    return cached


class MediaItem(Vertical):
    """One file: its placeholder line, and the image below it once loaded."""

    DEFAULT_CSS = """
    MediaItem { height: auto; }
    MediaItem > .placeholder { color: $text-muted; }
    MediaItem > .image { width: auto; height: auto; }
    """

    def __init__(self, ref: MediaRef, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ref = ref
        self.image_shown = False

    def compose(self):
        yield Static(placeholder(self.ref), classes="placeholder")

    def on_mount(self) -> None:
        ref = self.ref
        if ref.media_type.split(";")[0].lower() not in _SHOWN_TYPES:
            return
        if ref.size > graphics.MAX_IMAGE_BYTES:
            return
        protocol = protocol_for(self.app)
        if protocol is None:
            return
        self.run_worker(self._show(protocol), group="media", exit_on_error=False)

    async def _show(self, protocol: graphics.Protocol) -> None:
        image = _CACHE.get(self.ref.id)
        try:
            if image is None:
                runtime = getattr(self.app, "runtime", None)
                if runtime is None:
                    return
                _, data = await runtime.get_media(self.ref.id)
                image = await asyncio.to_thread(graphics.decode, data)
                _CACHE[self.ref.id] = image
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
            else:
                _CACHE.move_to_end(self.ref.id)
            cls = await asyncio.to_thread(graphics.image_widget, protocol)
        except Exception as exc:  # the placeholder stays: say why there is no picture
            log.info("could not show %s: %s", self.ref.id, exc)
            self.query_one(".placeholder", Static).update(
                placeholder(self.ref).append(f"  (not shown: {exc})", style="dim")
            )
            return
        if not self.is_attached:
            return
        await self.mount(cls(image, classes="image"))
        self.image_shown = True


class MediaList(Vertical):
    """The media of one message (or of one tool result)."""

    DEFAULT_CSS = """
    MediaList { height: auto; margin: 0 0 0 0; }
    """

    def __init__(self, refs: Sequence[MediaRef], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refs = list(refs)

    def compose(self):
        for ref in self.refs:
            yield MediaItem(ref)
