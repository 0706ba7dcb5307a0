"""The provider table: every entry reaches config, keys, doctor, first run and the registry.

The expected base URLs and key variables are the services' own documented
values; the table must agree with them, and everything else must read the table.
"""

from __future__ import annotations

from typing import Any

import pytest

from muxi_cli.cli.config_cmd import unknown_providers
from muxi_cli.cli.doctor import check_providers
from muxi_cli.config.loader import load_document
from muxi_cli.config.providers import provider_status
from muxi_cli.config.schema import Formation
from muxi_cli.errors import ConfigError, NoProviderError
from muxi_cli.llm.anthropic_provider import AnthropicProvider
from muxi_cli.llm.openai_provider import OpenAIProvider
from muxi_cli.llm.registry import ProviderRegistry, no_provider_hint
from muxi_cli.providers import table
from muxi_cli.providers.keys import env_var_for, find_key
from muxi_cli.providers.spec import CAPABILITY_FIELDS, WIRES
from muxi_cli.tui import firstrun

#: name -> (base URL, key variable); ``None`` base URL: the SDK's own default.
HOSTED = {
    "anthropic": (None, "ANTHROPIC_API_KEY"),
    "openai": (None, "OPENAI_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "mistral": ("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "deepseek": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "gemini": ("https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY"),
}
#: name -> default base URL of a server on this machine (no key needed).
LOCAL = {
    "ollama": "http://127.0.0.1:11434/v1",
    "lmstudio": "http://localhost:1234/v1",
    "vllm": "http://localhost:8000/v1",
    "llama-cpp": "http://127.0.0.1:8080/v1",
    "llama-cpp-python": "http://localhost:8000/v1",
}
EVERY = [*HOSTED, *LOCAL, "openai-compatible"]


def test_the_table_holds_every_preset_once() -> None:
    assert sorted(table.names()) == sorted(EVERY)
    for spec in table.specs():
        assert spec.wire in WIRES
        assert spec.display_name and spec.hint
    aliases = [a for s in table.specs() for a in s.aliases]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & set(table.names())


@pytest.mark.parametrize("name", EVERY)
def test_every_preset_validates_in_config(name: str) -> None:
    loaded = load_document({"default_model": f"{name}/some-model"})
    assert unknown_providers(loaded.formation) == {}  # `muxi config validate` accepts it
    # ... and names a preset for a provider of another name.
    entry: dict[str, Any] = {"preset": name, "base_url": "http://127.0.0.1:9/v1"}
    load_document({"providers": {"mine": entry}, "default_model": "mine/m"})
    assert provider_status(name).kind == table.get(name).wire  # type: ignore[union-attr]


@pytest.mark.parametrize("name", list(HOSTED))
def test_hosted_presets_resolve_with_their_url_and_key_variable(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, key_env = HOSTED[name]
    assert env_var_for(name) == key_env
    registry = ProviderRegistry(Formation())
    with pytest.raises(NoProviderError) as err:
        registry.resolve(f"{name}/some-model")  # no key yet: says which variable
    assert key_env in (err.value.hint or "") and f"muxi keys set {name}" in (err.value.hint or "")
    monkeypatch.setenv(key_env, "key-123")
    assert find_key(name) == ("key-123", f"env {key_env}")
    provider, model = ProviderRegistry(Formation()).resolve(f"{name}/some-model")
    assert model == "some-model"
    assert provider.base_url == base_url
    assert provider._env_var == key_env  # type: ignore[attr-defined]
    wanted = AnthropicProvider if name == "anthropic" else OpenAIProvider
    assert isinstance(provider, wanted)
    if isinstance(provider, OpenAIProvider):
        assert provider.compat is (name != "openai")


@pytest.mark.parametrize("name", list(LOCAL))
def test_local_presets_resolve_without_a_key(name: str) -> None:
    registry = ProviderRegistry(Formation())
    provider, _model = registry.resolve(f"{name}/qwen3")
    assert isinstance(provider, OpenAIProvider) and provider.compat
    assert provider.base_url == LOCAL[name]
    assert provider.capabilities.probe_limits  # local servers are asked for their context
    assert registry.price(f"{name}/qwen3", 1000, 1000) == 0.0


def test_the_generic_preset_needs_a_base_url() -> None:
    with pytest.raises(ConfigError) as err:
        ProviderRegistry(Formation()).resolve("openai-compatible/m")
    assert "base_url" in (err.value.hint or "")


def test_every_preset_shows_in_doctor_and_first_run() -> None:
    names = {c.name for c in check_providers(None, None)}
    assert {f"provider {n}" for n in EVERY} <= names
    offered = [s.name for s in firstrun.key_providers()] + [
        s.name for s in firstrun.server_presets()
    ]
    assert sorted(offered) == sorted(EVERY)
    hint = no_provider_hint()
    assert all(n in hint for n in ("groq", "openrouter", "LM Studio", "vLLM"))


def test_capabilities_extend_to_media() -> None:
    for field in ("streaming", "tools", "vision", "documents", "audio_in", "audio_out"):
        assert field in CAPABILITY_FIELDS
    assert table.get("anthropic").capabilities.documents  # type: ignore[union-attr]
    assert not table.get("deepseek").capabilities.vision  # type: ignore[union-attr]
    registry = ProviderRegistry(
        load_document(
            {"providers": {"lmstudio": {"capabilities": {"vision": True}}}, "default_model": "x/y"}
        ).formation
    )
    provider, _model = registry.resolve("lmstudio/qwen2-vl")
    assert provider.capabilities.vision  # a single override over the table's entry


def test_prices_come_from_the_table() -> None:
    registry = ProviderRegistry(Formation())
    spec = table.get("anthropic")
    assert spec is not None
    price_in, price_out = spec.prices["claude-sonnet-5-5"]
    assert registry.price("anthropic/claude-sonnet-5-5", 1_000_000, 1_000_000) == pytest.approx(
        price_in + price_out
    )
    assert registry.price("groq/unpriced-model", 10, 10) is None  # unknown, never guessed
