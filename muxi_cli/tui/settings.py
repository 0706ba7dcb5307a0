"""The app's preferences in ``settings.json`` (shared with other muxi code).

Other parts of muxi keep their own keys in the same file (``always_allow``),
so every write reads the file again, changes only our keys and keeps the rest.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from muxi_cli import paths

log = logging.getLogger(__name__)


def load() -> dict[str, Any]:
    path = paths.settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings file %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def get(key: str, default: Any = None) -> Any:
    return load().get(key, default)


def update(**changes: Any) -> None:
    """Read-modify-write: set ``changes``, keep every other key as it is."""
    path = paths.settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        log.warning("settings file %s was unreadable; rewriting it", path)
        data = {}
    if not isinstance(data, dict):
        data = {}
    data.update(changes)
    try:
        paths.write_private(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    except OSError as exc:  # preferences are never worth a crash
        log.warning("could not save settings to %s: %s", path, exc)
