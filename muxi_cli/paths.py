"""Where muxi keeps its files.

Locations come from platformdirs; ``MUXI_HOME`` puts all of them under one
folder (tests always set it). Nothing is created at import time: callers ask
for a path and create it with :func:`ensure_dir` when they write.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "muxi"


def _home() -> Path | None:
    home = os.environ.get("MUXI_HOME")
    return Path(home).expanduser() if home else None


def config_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "config"
    import platformdirs  # deferred: platformdirs is slow to import

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs  # deferred: platformdirs is slow to import

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "cache"
    import platformdirs  # deferred: platformdirs is slow to import

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def sessions_db_path() -> Path:
    return data_dir() / "sessions.db"


def memory_dir() -> Path:
    return data_dir() / "memory"


def server_keys_path() -> Path:
    return data_dir() / "server_keys.json"


def profiles_path() -> Path:
    return config_dir() / "profiles.yaml"


def settings_path() -> Path:
    """User preferences of the apps (theme, always-allowed tools, ...)."""
    return config_dir() / "settings.json"


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600.

    The temporary file gets a random name and is created exclusively (mkstemp):
    in a folder others can write to, a file or symlink planted under a guessable
    name is never opened, so nothing outside ``path`` is written."""
    import tempfile  # deferred: it loads shutil and random, which most commands never need

    ensure_dir(path.parent)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
