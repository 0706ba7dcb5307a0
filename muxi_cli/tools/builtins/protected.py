"""Files the file tools never serve, whatever the roots say.

muxi's own configuration, keys and data (the loaded formation file and any
``muxi.yaml``, ``server_keys.json``, the secrets file, the config, data and
cache folders with the session database and LanceDB tables, a local memory
URI) and dotenv files (``.env``, ``.env.*``, ``.envrc``). Names are compared
case-insensitively (a case-insensitive file system opens ``MUXI.YAML`` as
``muxi.yaml``), both the path as asked and the path after symlinks are
followed are checked, and protected files are also matched by inode (a hard
link under another name is the same file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from muxi_cli import paths
from muxi_cli.stores import lance_uri
from muxi_cli.tools.builtins import BuiltinContext

#: File names (case-folded) that are muxi's own or hold secrets.
_NAMES = frozenset(
    {
        "muxi.yaml",
        "muxi.yml",
        "server_keys.json",
        "secrets.json",
        "profiles.yaml",
        "settings.json",
        "sessions.db",
        "sessions.db-wal",
        "sessions.db-shm",
        ".envrc",
        ".env",
    }
)


def _secret_name(name: str) -> bool:
    folded = name.casefold()
    return folded in _NAMES or folded.startswith(".env.")


def _fold(path: Path) -> str:
    return os.path.normpath(str(path)).casefold()


@dataclass(frozen=True, slots=True)
class Protected:
    folders: tuple[str, ...]  # case-folded absolute paths
    inodes: frozenset[tuple[int, int]]

    def _in_folder(self, path: Path) -> bool:
        folded = _fold(path)
        return any(
            folded == d or folded.startswith(d.rstrip(os.sep) + os.sep) for d in self.folders
        )

    def _same_inode(self, path: Path) -> bool:
        try:
            info = path.stat()
        except OSError:
            return False
        return (info.st_dev, info.st_ino) in self.inodes

    def reason(self, asked: Path, resolved: Path) -> str | None:
        """Why ``asked`` (resolving to ``resolved``) must not be served, or None."""
        for path in (asked, resolved):
            if _secret_name(path.name):
                return f"{path.name} holds configuration or secrets"
            if self._in_folder(path):
                return "it is in muxi's own config/data folder"
        if self._same_inode(resolved):
            return "it is muxi's own configuration file"
        return None


def _local_memory_dir(ctx: BuiltinContext) -> Path | None:
    uri = lance_uri.configured(ctx.formation.memory.uri)
    if not uri or ("://" in uri and not uri.startswith("file://")):
        return None  # s3:// and friends are not on this disk
    raw = uri.removeprefix("file://")
    path = Path(os.path.expanduser(raw))
    return path if path.is_absolute() else ctx.base_dir / path


def protected(ctx: BuiltinContext) -> Protected:
    """What to refuse for this formation (computed per call: cheap, and a
    test's MUXI_HOME change is seen)."""
    folders = [paths.config_dir(), paths.data_dir(), paths.cache_dir()]
    home = os.environ.get("MUXI_HOME")
    if home:  # everything under MUXI_HOME is muxi's
        folders.append(Path(home).expanduser())
    memory = _local_memory_dir(ctx)
    if memory is not None:
        folders.append(memory)
    files = [paths.server_keys_path(), paths.sessions_db_path(), paths.settings_path()]
    if ctx.config_file is not None:
        files.append(ctx.config_file)
    inodes = set()
    for file in files:
        try:
            info = file.stat()
        except OSError:
            continue
        inodes.add((info.st_dev, info.st_ino))
    folded: list[str] = []
    for folder in folders:
        # Both spellings: as configured and with symlinks followed.
        folded.append(_fold(folder.absolute()))
        folded.append(_fold(folder.resolve()))
    return Protected(tuple(dict.fromkeys(folded)), frozenset(inodes))
