"""Which formation file a command uses (:func:`locate_formation`), and why.

Search order: the ``--config`` flag, ``$MUXI_CONFIG``, ``./muxi.yaml`` (or
``./muxi.yml``), ``<config dir>/muxi.yaml``; with none of them, the built-in
formation. Standard library only, so the warm host's client (``muxi_cli.host``)
finds the same file the loader would without loading the schema.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from muxi_cli import paths

FILE_NAMES = ("muxi.yaml", "muxi.yml")

Reason = Literal["flag", "env", "cwd", "user", "default"]

_REASONS: dict[str, str] = {
    "flag": "given with --config",
    "env": "given by $MUXI_CONFIG",
    "cwd": "found in the current directory",
    "user": "found in the user config directory",
    "default": "no muxi.yaml found: the built-in formation (one 'assistant' agent)",
}


@dataclass(frozen=True)
class FormationSource:
    """Which formation file is used, and why."""

    path: Path | None
    reason: Reason

    @property
    def explanation(self) -> str:
        return _REASONS[self.reason]


def _resolve_explicit(value: str | os.PathLike[str]) -> Path:
    path = Path(value).expanduser()
    if path.is_dir():
        for name in FILE_NAMES:
            if (path / name).is_file():
                return path / name
        return path / FILE_NAMES[0]
    return path


def locate_formation(
    explicit: str | os.PathLike[str] | None = None, *, explicit_reason: Reason = "flag"
) -> FormationSource:
    """Decide which formation file to use (see the module docstring for the order).

    An explicit path (or ``$MUXI_CONFIG``) is returned even when it does not
    exist, so loading it reports the missing file.
    """
    if explicit:
        return FormationSource(_resolve_explicit(explicit), explicit_reason)
    env = os.environ.get("MUXI_CONFIG")
    if env:
        return FormationSource(_resolve_explicit(env), "env")
    cwd = Path.cwd()
    for name in FILE_NAMES:
        if (cwd / name).is_file():
            return FormationSource(cwd / name, "cwd")

    user = paths.config_dir()
    for name in FILE_NAMES:
        if (user / name).is_file():
            return FormationSource(user / name, "user")
    return FormationSource(None, "default")


def find_formation(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The formation file to use: ``--config``, ``$MUXI_CONFIG``, ``./muxi.yaml``,
    ``<config dir>/muxi.yaml``, or ``None`` for the built-in formation."""
    return locate_formation(explicit).path
