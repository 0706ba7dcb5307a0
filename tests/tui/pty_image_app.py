"""Run in a pseudo-terminal by tests/tui/test_images.py: the chat app shows one
image message, then prints ``SHOWN=<True|False> <protocol>`` and quits."""

from __future__ import annotations

import asyncio
import io
import sys

from PIL import Image

from muxi_cli.tui.app import MuxiApp
from muxi_cli.tui.model import UserRecord
from muxi_cli.tui.widgets.media import MediaItem
from tests.tui.fake_runtime import FakeRuntime


class ImageApp(MuxiApp):
    def on_ready(self) -> None:
        self.run_worker(self._show())

    async def _show(self) -> None:
        await self.wait_runtime()
        fake = self.runtime
        assert isinstance(fake, FakeRuntime)
        data = io.BytesIO()
        Image.new("RGB", (200, 100), (255, 0, 0)).save(data, "PNG")
        ref = await fake.put_media(data.getvalue(), name="red.png")
        await self.chat.transcript.add(UserRecord("look", media=(ref,)))
        item = self.chat.query_one(MediaItem)
        for _ in range(400):
            if item.image_shown:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # let the image be drawn
        protocol = getattr(self, "_muxi_graphics", None)
        sys.__stderr__.write(f"\nSHOWN={item.image_shown} {protocol}\n")  # type: ignore[union-attr]
        await self.action_quit()


if __name__ == "__main__":
    ImageApp(runtime=FakeRuntime(), cursor_blink=False).run()
