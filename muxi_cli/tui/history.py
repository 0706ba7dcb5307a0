"""Earlier prompts, recalled with Up/Down in the input and kept across runs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from muxi_cli import paths

log = logging.getLogger(__name__)

LIMIT = 500


def default_path() -> Path:
    return paths.data_dir() / "prompt_history.jsonl"


class PromptHistory:
    """A list of prompts with a cursor, like a shell's history.

    ``previous``/``next`` walk the list; the text being edited when the walk
    started comes back when the walk goes past the newest entry.
    """

    def __init__(self, path: Path | None = None, limit: int = LIMIT) -> None:
        self.path = path
        self.limit = limit
        self.entries: list[str] = []
        self._index: int | None = None
        self._draft = ""

    def load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            log.warning("cannot read prompt history %s: %s", self.path, exc)
            return
        entries = []
        for line in lines[-self.limit :]:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, str) and value:
                entries.append(value)
        self.entries = entries

    def add(self, text: str) -> None:
        self.reset()
        if not text.strip() or (self.entries and self.entries[-1] == text):
            return
        self.entries.append(text)
        if len(self.entries) > self.limit:
            del self.entries[: len(self.entries) - self.limit]
        if self.path is None:
            return
        try:
            paths.ensure_dir(self.path.parent)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(text, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.warning("cannot write prompt history %s: %s", self.path, exc)

    def reset(self) -> None:
        self._index = None
        self._draft = ""

    @property
    def browsing(self) -> bool:
        return self._index is not None

    def previous(self, current: str) -> str | None:
        """The entry before the current one, or None at the oldest."""
        if not self.entries:
            return None
        if self._index is None:
            self._draft = current
            self._index = len(self.entries)
        if self._index == 0:
            return None
        self._index -= 1
        return self.entries[self._index]

    def next(self) -> str | None:
        """The entry after the current one; the draft after the newest; None when not browsing."""
        if self._index is None:
            return None
        self._index += 1
        if self._index >= len(self.entries):
            draft = self._draft
            self.reset()
            return draft
        return self.entries[self._index]
