"""The fake model, the formations and the checkout's own ``muxi serve`` that every
option's smoke test uses (part of scripts/package-check, see package_smoke.py).

The fake model (tests/fakellm.py) runs in this process on 127.0.0.1; the
reference server is the checkout's code, run by the dev venv (tests/server/
serveproc.py: ``PYTHONPATH`` = the checkout, readiness waited for with a bound)
and stopped by :meth:`Rig.close`.
"""

from __future__ import annotations

import re
import shutil
import struct
import zlib
from pathlib import Path

from package_venvs import tail

from tests.fakellm import FakeLLM, Text
from tests.server.serveproc import ServeProcess

#: What the fake model answers every turn (memory extraction gets it too: harmless).
REPLY = "pong from the fake model"
#: A model name muxi treats as able to see images, so an attachment reaches it.
VISION_MODEL = "gpt-4o"
KEY_RE = re.compile(r"muxi_[0-9a-f]{10}_[A-Za-z0-9_-]{43}")


def png(path: Path, width: int = 24, height: int = 12) -> Path:
    """A small red PNG, written with the standard library (zlib) alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


class Rig:
    """The fake model, the formations and the checkout's ``muxi serve``, shared by every option."""

    def __init__(self, work: Path) -> None:
        shutil.rmtree(work, ignore_errors=True)  # fresh state, even with --work DIR --reuse
        self.work = work
        self.fake = FakeLLM()
        self.fake.set_default(Text(REPLY))
        self.formation = self.fake.write_formation(mkdir(work / "formation"), model=VISION_MODEL)
        memory_dir = mkdir(work / "formation-memory")
        # Extraction after every turn, so the chat turn exercises the whole memory path.
        extra = "agents:\n  - name: assistant\n    memory:\n      extract_every: 1\n"
        self.memory_formation = self.fake.write_formation(
            memory_dir, model=VISION_MODEL, extra=extra
        )
        self.picture = png(work / "a.png")
        self._server: ServeProcess | None = None
        self._user_key = ""

    def reference_server(self) -> tuple[str, str]:
        """``(url, user key)`` of the checkout's ``muxi serve`` (started on first use)."""
        if self._server is None:
            server = ServeProcess(self.work / "reference-server", self.formation)
            self._server = server  # set first: close() stops it whatever start() does
            server.start()
            keys = KEY_RE.findall(server.log())
            if len(keys) != 2:
                raise RuntimeError(f"expected an admin and a user key:\n{tail(server.log())}")
            self._user_key = keys[1]
        return self._server.url, self._user_key

    def close(self) -> None:
        try:
            if self._server is not None:
                self._server.stop()
        finally:
            self.fake.close()


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
