"""The user's ``settings.json``: the one reader and the one writer.

Several parts of muxi keep keys in the same file (the chat app its ``theme``,
the tool layer its ``always_allow`` list), so every write reads the file
again under a lock, changes only its own keys, keeps every other key as it is
and replaces the file atomically (temporary file + rename, mode 0600): a crash
never leaves half a file, and two processes saving at once lose neither change.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from muxi_cli import paths

if sys.platform != "win32":
    import fcntl

log = logging.getLogger("muxi.settings")

Change = Callable[[dict[str, Any]], object] | Mapping[str, Any]

# Serialises writers in this process; the file lock below does it across
# processes where the platform has one (not on Windows).
_LOCK = threading.Lock()


def load(file: Path | None = None) -> dict[str, Any]:
    """The settings (``{}`` when the file is missing, unreadable or not an object)."""
    path = file or paths.settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings file %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def get(key: str, default: Any = None, file: Path | None = None) -> Any:
    return load(file).get(key, default)


def update(change: Change, file: Path | None = None) -> dict[str, Any]:
    """Read, change, write back: ``change`` is a mapping of keys to set, or a
    function that edits the settings dict in place. Returns what was written.
    Raises OSError when the file cannot be written (callers decide if that matters)."""
    path = file or paths.settings_path()
    with _locked(path):
        data = load(path)
        if callable(change):
            change(data)
        else:
            data.update(change)
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        paths.write_private(path, text)
    return data


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with _LOCK:
        if sys.platform == "win32":  # no flock: the in-process lock is all there is
            yield
            return
        paths.ensure_dir(path.parent)
        fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
