"""Keyring backends for the test suite only; the user's keyring is never touched.

- :class:`MemoryKeyring`: in-process, installed for every test by
  ``tests/conftest.py`` with ``keyring.set_keyring``.
- :class:`FileKeyring`: for the ``muxi`` subprocesses tests start. They select
  it with ``PYTHON_KEYRING_BACKEND=tests.keyring_backend.FileKeyring`` (and
  ``PYTHONPATH`` pointing at the checkout so they can import it). It keeps a
  JSON file in ``$MUXI_HOME``, so each test's processes share their secrets
  and nothing outlives the test's temp dir.

This replaces a dependency on ``keyrings.alt``: installing that package moves
every program in the environment to a plaintext keyring.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

#: What tests put in ``PYTHON_KEYRING_BACKEND`` for subprocesses.
FILE_BACKEND = "tests.keyring_backend.FileKeyring"
FILE_NAME = "test-keyring.json"


class MemoryKeyring(KeyringBackend):
    """Secrets in a dict, gone with the test."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.store:
            raise PasswordDeleteError(username)
        del self.store[(service, username)]


def _path() -> Path:
    home = os.environ.get("MUXI_HOME")
    if not home:
        # Only ever selected by the test suite, which always sets MUXI_HOME.
        raise RuntimeError("tests.keyring_backend.FileKeyring needs MUXI_HOME")
    return Path(home) / FILE_NAME


class FileKeyring(KeyringBackend):
    """A JSON file in ``$MUXI_HOME`` (plain text: for tests only)."""

    priority = 1  # type: ignore[assignment]

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, dict[str, str]]) -> None:
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)  # atomic: a concurrent reader sees the old or the new file

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data.setdefault(service, {})[username] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if username not in data.get(service, {}):
            raise PasswordDeleteError(username)
        del data[service][username]
        self._save(data)
