"""Model selection, provider resolution, keys and prices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from muxi_cli.config.schema import Formation, ProviderConfig
from muxi_cli.errors import ConfigError, NoProviderError
from muxi_cli.llm.anthropic_provider import AnthropicProvider
from muxi_cli.llm.base import LLMRequest, Message, complete
from muxi_cli.llm.openai_provider import OpenAIProvider
from muxi_cli.llm.pricing import builtin_price, cost
from muxi_cli.llm.registry import ProviderRegistry
from muxi_cli.providers import table
from muxi_cli.providers.keys import base_url_for, env_var_for, find_key
from muxi_cli.providers.local import ollama_host
from muxi_cli.secrets import set_secret
from tests.fakellm import FakeLLM, Text


def formation(data: dict[str, Any] | None = None) -> Formation:
    return Formation.model_validate(data or {})


def from_fake(fake: FakeLLM, **kw: Any) -> Formation:
    return formation(yaml.safe_load(fake.formation_yaml(**kw)))


# -- model_for -------------------------------------------------------------------


def test_model_for_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    f = formation(
        {
            "default_model": "openai/gpt-5.4",
            "agents": [
                {"name": "a", "model": "anthropic/claude-haiku-4-5"},
                {"name": "b", "model": {"provider": "ollama", "model": "qwen3/8b"}},
                {"name": "c"},
            ],
        }
    )
    reg = ProviderRegistry(f)
    a, b, c = f.agents
    assert reg.model_for(a, override="openai/gpt-5") == "openai/gpt-5"
    assert reg.model_for(a) == "anthropic/claude-haiku-4-5"
    assert reg.model_for(b) == "ollama/qwen3/8b"
    assert reg.model_for(c) == "openai/gpt-5.4"
    assert reg.model_for() == "openai/gpt-5.4"
    assert reg.model_for(override="claude-opus-5-5") == "anthropic/claude-opus-5-5"
    assert reg.model_for(override="gpt-5.4-mini") == "openai/gpt-5.4-mini"


def test_auto_model_prefers_anthropic_then_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    anthropic, openai = table.get("anthropic"), table.get("openai")
    assert anthropic is not None and openai is not None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-o")
    assert ProviderRegistry(formation()).model_for() == f"openai/{openai.default_model}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-a")
    assert ProviderRegistry(formation()).model_for() == f"anthropic/{anthropic.default_model}"


def test_auto_model_uses_a_keyring_key() -> None:
    set_secret("provider:openai", "sk-from-keyring")
    assert ProviderRegistry(formation()).model_for().startswith("openai/")


def test_no_provider_error_says_how_to_fix() -> None:
    with pytest.raises(NoProviderError) as err:
        ProviderRegistry(formation()).model_for()
    hint = err.value.hint or ""
    assert "muxi keys set anthropic" in hint
    assert "export OPENAI_API_KEY=" in hint
    assert "type: openai" in hint and "base_url: http://localhost:11434/v1" in hint
    # the snippet is valid formation YAML
    snippet = "\n".join(line[7:] for line in hint.splitlines() if line.startswith(" " * 7))
    assert Formation.model_validate(yaml.safe_load(snippet)).providers["local"].type == "openai"


async def test_ollama_auto_detect(monkeypatch: pytest.MonkeyPatch, fake_llm: FakeLLM) -> None:
    monkeypatch.delenv("MUXI_NO_OLLAMA_PROBE", raising=False)
    monkeypatch.setenv("OLLAMA_HOST", fake_llm.url)
    fake_llm.ollama_models = ["qwen3:4b", "llama3.2"]
    reg = ProviderRegistry(formation())
    ref = reg.model_for()
    assert ref == "ollama/qwen3:4b"
    assert fake_llm.gets == ["/api/tags"]
    provider, model = reg.resolve(ref)
    assert isinstance(provider, OpenAIProvider) and model == "qwen3:4b"
    fake_llm.script(Text("hello from ollama"))
    result = await complete(provider, LLMRequest(model=model, messages=[Message("user", "hi")]))
    assert result.text == "hello from ollama"
    assert fake_llm.last_request["model"] == "qwen3:4b"
    assert reg.available()["ollama"] == "local"
    assert reg.price(ref, 1000, 1000) == 0.0
    await reg.aclose()


def test_ollama_probe_respects_opt_out(monkeypatch: pytest.MonkeyPatch, fake_llm: FakeLLM) -> None:
    monkeypatch.setenv("OLLAMA_HOST", fake_llm.url)  # MUXI_NO_OLLAMA_PROBE=1 from conftest
    with pytest.raises(NoProviderError):
        ProviderRegistry(formation()).model_for()
    assert fake_llm.gets == []


def test_ollama_probe_of_nothing_is_quick_none(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.net import free_port

    monkeypatch.delenv("MUXI_NO_OLLAMA_PROBE", raising=False)
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{free_port()}")  # nobody listens there
    with pytest.raises(NoProviderError):
        ProviderRegistry(formation()).model_for()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("localhost:8080", "http://localhost:8080"),
        ("https://box.lan:443/ollama/", "https://box.lan:443/ollama"),
    ],
)
def test_ollama_host_forms(monkeypatch: pytest.MonkeyPatch, raw: str, expected: str) -> None:
    monkeypatch.setenv("OLLAMA_HOST", raw)
    assert ollama_host() == expected


# -- resolve ---------------------------------------------------------------------


async def test_resolve_configured_providers(fake_llm: FakeLLM) -> None:
    reg = ProviderRegistry(from_fake(fake_llm, provider="anthropic", model="claude-x"))
    provider, model = reg.resolve(reg.model_for())
    assert isinstance(provider, AnthropicProvider) and model == "claude-x"
    assert reg.resolve("anthropic/other")[0] is provider  # cached per provider name
    fake_llm.script(Text("hey"))
    result = await complete(provider, LLMRequest(model=model, messages=[Message("user", "hi")]))
    assert result.text == "hey"
    assert "sk-ant-fake" in str(fake_llm.last_request["headers"])
    await reg.aclose()


async def test_resolve_custom_openai_compatible(fake_llm: FakeLLM) -> None:
    reg = ProviderRegistry(from_fake(fake_llm, provider="local", model="org/model-7b"))
    ref = reg.model_for()
    assert ref == "local/org/model-7b"
    provider, model = reg.resolve(ref)
    assert (
        isinstance(provider, OpenAIProvider) and model == "org/model-7b"
    )  # split at the FIRST "/"
    await complete(provider, LLMRequest(model=model, messages=[Message("user", "hi")]))
    assert fake_llm.last_request["model"] == "org/model-7b"
    await reg.aclose()


def test_agent_model_ref_base_url_configures_provider(fake_llm: FakeLLM) -> None:
    f = formation(
        {
            "agents": [
                {
                    "name": "a",
                    "model": {
                        "provider": "vllm",
                        "model": "m",
                        "base_url": fake_llm.openai_base_url,
                    },
                }
            ]
        }
    )
    reg = ProviderRegistry(f)
    provider, _ = reg.resolve(reg.model_for(f.agents[0]))
    assert isinstance(provider, OpenAIProvider) and provider.base_url == fake_llm.openai_base_url


def test_unknown_provider_names_the_nearest() -> None:
    reg = ProviderRegistry(formation())
    with pytest.raises(ConfigError) as err:
        reg.resolve("antropic/claude-x")
    assert "'anthropic'" in err.value.message
    assert "ollama" in (err.value.hint or "")


def test_bare_model_without_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        ProviderRegistry(formation()).resolve("mistral-7b")
    assert "provider/model" in (err.value.hint or "")


def test_builtin_provider_without_key_is_no_provider_error() -> None:
    with pytest.raises(NoProviderError) as err:
        ProviderRegistry(formation()).resolve("anthropic/claude-x")
    assert "muxi keys set anthropic" in (err.value.hint or "")


def test_base_url_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    provider, _ = ProviderRegistry(formation()).resolve("openai/gpt-5")
    assert isinstance(provider, OpenAIProvider) and provider.base_url == "http://127.0.0.1:9/v1"
    assert base_url_for("anthropic") is None
    assert base_url_for("anthropic", ProviderConfig(base_url="http://x")) == "http://x"


# -- keys ------------------------------------------------------------------------


def test_key_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_key("anthropic") == (None, None)
    set_secret("provider:anthropic", "from-keyring")
    assert find_key("anthropic") == ("from-keyring", "keyring")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "from-env")
    assert find_key("anthropic") == ("from-env", "env ANTHROPIC_API_KEY")
    monkeypatch.setenv("MY_KEY", "from-custom-env")
    assert find_key("anthropic", ProviderConfig(api_key_env="MY_KEY")) == (
        "from-custom-env",
        "env MY_KEY",
    )
    assert find_key("anthropic", ProviderConfig(api_key="from-config")) == ("from-config", "config")


def test_generic_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_var_for("together-ai") == "TOGETHER_AI_API_KEY"
    monkeypatch.setenv("TOGETHER_AI_API_KEY", "k")
    assert find_key("together-ai") == ("k", "env TOGETHER_AI_API_KEY")


def test_available(monkeypatch: pytest.MonkeyPatch, fake_llm: FakeLLM) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk")
    set_secret("provider:anthropic", "a")
    f = formation(
        {
            "providers": {
                "local": {"type": "openai", "base_url": fake_llm.openai_base_url},
                "remote": {
                    "type": "openai",
                    "base_url": "https://models.example/v1",
                    "api_key": "k",
                },
            }
        }
    )
    available = ProviderRegistry(f).available()
    assert available == {
        **dict.fromkeys(table.names()),  # no key, no local server named: not usable
        "anthropic": "keyring",
        "openai": "env OPENAI_API_KEY",
        "local": "local",
        "remote": "config",
    }


# -- prices ----------------------------------------------------------------------


def test_price(fake_llm: FakeLLM) -> None:
    f = formation(
        {
            "pricing": {"openai/gpt-5.5": {"input": 1.0, "output": 2.0}},
            "providers": {"local": {"type": "openai", "base_url": fake_llm.openai_base_url}},
        }
    )
    reg = ProviderRegistry(f)
    assert reg.price("openai/gpt-5.5", 1_000_000, 500_000) == pytest.approx(2.0)  # formation wins
    ip, op = builtin_price("anthropic/claude-sonnet-5-5") or (0, 0)
    assert reg.price("anthropic/claude-sonnet-5-5", 2000, 1000) == pytest.approx(
        cost(ip, op, 2000, 1000)
    )
    assert reg.price("anthropic/claude-haiku-4-5-20251001", 10, 10) == reg.price(
        "anthropic/claude-haiku-4-5", 10, 10
    )
    assert reg.price("local/anything", 10_000, 10_000) == 0.0
    assert reg.price("ollama/llama3.2", 10_000, 10_000) == 0.0
    assert reg.price("openai/unheard-of", 10, 10) is None


def test_cost_formula() -> None:
    assert cost(3.0, 15.0, 1_000_000, 1_000_000) == pytest.approx(18.0)
    assert cost(3.0, 15.0, 0, 0) == 0.0


def test_formation_file_from_fake(tmp_path: Path, fake_llm: FakeLLM) -> None:
    path = fake_llm.write_formation(tmp_path, provider="openai", model="m1")
    reg = ProviderRegistry(formation(yaml.safe_load(path.read_text())))
    assert reg.model_for() == "openai/m1"
