"""A bounded record of a child process's stderr.

The child writes to an unlinked temporary file opened for appending; muxi
reads its last few KB when something fails, and trims it when it grows.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO

TAIL_BYTES = 4096
TRIM_AT = 1_000_000


class StderrTail:
    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self.limit = limit
        fd, path = tempfile.mkstemp(prefix="muxi-mcp-", suffix=".stderr")
        os.close(fd)
        self.file: IO[bytes] = open(path, "a+b")  # noqa: SIM115 - lives as long as the server
        try:
            os.unlink(path)
        except OSError:  # pragma: no cover - Windows keeps open files
            pass
        self._kept = b""

    def _size(self) -> int:
        return os.fstat(self.file.fileno()).st_size

    def tail(self, lines: int = 20) -> str:
        """The last lines the process wrote (at most ``limit`` bytes)."""
        if self.file.closed:
            return ""
        size = self._size()
        start = max(0, size - self.limit)
        data = self._kept + os.pread(self.file.fileno(), size - start, start)
        data = data[-self.limit :]
        text = data.decode("utf-8", errors="replace")
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def trim(self) -> None:
        """Drop old output once the file is large (the child appends after the cut)."""
        if self.file.closed or self._size() < TRIM_AT:
            return
        size = self._size()
        self._kept = os.pread(self.file.fileno(), self.limit, max(0, size - self.limit))
        os.ftruncate(self.file.fileno(), 0)

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()
