"""Provider key status as `muxi keys list` and `muxi doctor` report it."""

from __future__ import annotations

import pytest

from muxi_cli import secrets
from muxi_cli.config.loader import load_document
from muxi_cli.config.providers import (
    all_provider_status,
    provider_status,
    referenced_providers,
)
from muxi_cli.providers import table
from muxi_cli.providers.local import is_local_url


def test_no_keys_anywhere() -> None:
    statuses = all_provider_status(None)
    assert [s.name for s in statuses] == table.names()  # the provider table, in its order
    assert [s.name for s in statuses][:2] == ["anthropic", "openai"]
    assert not any(s.has_key or s.usable for s in statuses)
    assert statuses[0].env_var == "ANTHROPIC_API_KEY"


def test_key_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-1234567890")
    secrets.set_secret("provider:openai", "sk-oai-0987654321")
    anthropic = provider_status("anthropic")
    assert anthropic.has_key and anthropic.source == "env ANTHROPIC_API_KEY"
    assert anthropic.masked == secrets.mask("sk-ant-1234567890")
    openai = provider_status("openai")
    assert openai.has_key and openai.source == "keyring"
    assert "0987654321" not in repr(openai.to_dict())


def test_formation_providers_and_local_servers() -> None:
    formation = load_document(
        {
            "default_model": "groq/llama-3",
            "providers": {
                "ollama": {"type": "openai", "base_url": "http://localhost:11434/v1"},
                "corp": {
                    "type": "openai",
                    "base_url": "https://llm.example.com/v1",
                    "api_key": "ck-abcdefgh1234",
                },
            },
            "agents": [{"name": "a", "model": {"provider": "mistral", "model": "m"}}],
        }
    ).formation
    assert referenced_providers(formation) == ["ollama", "corp", "groq", "mistral"]
    by_name = {s.name: s for s in all_provider_status(formation)}
    assert list(by_name) == [*table.names(), "corp"]
    assert by_name["ollama"].local and by_name["ollama"].usable and not by_name["ollama"].has_key
    assert by_name["corp"].has_key and by_name["corp"].source == "config"
    assert not by_name["corp"].local
    assert by_name["groq"].env_var == "GROQ_API_KEY" and by_name["groq"].declared
    assert by_name["groq"].base_url == "https://api.groq.com/openai/v1"
    assert by_name["mistral"].kind == "openai" and not by_name["mistral"].usable
    assert by_name["lmstudio"].local and not by_name["lmstudio"].usable  # not named


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:11434/v1", True),
        ("http://127.0.0.1:8000", True),
        ("http://[::1]:8000", True),
        ("https://api.example.com", False),
        (None, False),
        ("not a url", False),
    ],
)
def test_is_local_url(url: str | None, local: bool) -> None:
    assert is_local_url(url) is local
