"""Fixtures shared by the whole suite.

Every test runs with ``MUXI_HOME`` in a temp dir, no provider keys from the
developer's environment, and an in-memory keyring.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_PROVIDER_ENV = (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
    "MUXI_PROFILE",
    "MUXI_CONFIG",
    "MUXI_API_KEY",
    "MUXI_ADMIN_KEY",
)


@pytest.fixture(autouse=True)
def muxi_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "muxi-home"
    home.mkdir()
    monkeypatch.setenv("MUXI_HOME", str(home))
    for name in _PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    # Never auto-detect a developer's local Ollama from tests.
    monkeypatch.setenv("MUXI_NO_OLLAMA_PROBE", "1")
    monkeypatch.setenv("LANCEDB_LOG", "error")
    # Subprocesses get an in-memory-equivalent keyring: a file backend in the temp home.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    monkeypatch.chdir(tmp_path)
    yield home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[None]:
    """An in-process in-memory keyring, so no test touches a real one."""
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            from keyring.errors import PasswordDeleteError

            if (service, username) not in self.store:
                raise PasswordDeleteError(username)
            del self.store[(service, username)]

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield
    keyring.set_keyring(previous)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("LANCEDB_LOG", "error")


from tests.fakellm import FakeLLM  # noqa: E402  (stdlib only, cheap)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A local fake LLM server (OpenAI + Anthropic wire formats); see tests/fakellm.py."""
    server = FakeLLM()
    try:
        yield server
    finally:
        server.close()
