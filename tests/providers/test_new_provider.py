"""A provider is one module: drop it in, and config, keys, doctor, first run and the
registry accept it with nothing else touched. Turns go through the fake model server.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from muxi_cli.cli.config_cmd import unknown_providers
from muxi_cli.cli.doctor import check_providers
from muxi_cli.config.loader import load_document
from muxi_cli.config.providers import provider_status
from muxi_cli.llm.base import LLMRequest, Message, complete
from muxi_cli.llm.openai_provider import OpenAIProvider
from muxi_cli.llm.registry import ProviderRegistry
from muxi_cli.providers import builtin, table
from muxi_cli.providers.keys import env_var_for, find_key
from muxi_cli.providers.spec import ProviderSpec
from muxi_cli.tui import firstrun
from tests.fakellm import FakeLLM, Text
from tests.procs import run_muxi

#: The whole of a new provider: one module in muxi_cli/providers/builtin/.
ACME_MODULE = '''\
"""Acme AI's OpenAI-compatible API."""

from muxi_cli.providers.spec import Capabilities, ProviderSpec

SPEC = ProviderSpec(
    name="acme",
    display_name="Acme AI",
    key_env="ACME_TOKEN",
    base_url="{base_url}",
    capabilities=Capabilities(vision=True),
    prices={{"rocket-1": (1.0, 2.0)}},
    hint="Create a key in the Acme console.",
    order=40,
)
'''


@pytest.fixture
def fresh_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The table as if muxi started now; restored afterwards."""
    monkeypatch.setattr(table, "_specs", {})
    monkeypatch.setattr(table, "_loaded", False)
    yield
    sys.modules.pop(f"{builtin.__name__}.acme", None)


@pytest.fixture
def acme_module(
    fresh_table: None, tmp_path: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """``acme.py`` in a folder the built-in provider package also reads."""
    folder = tmp_path / "more_providers"
    folder.mkdir()
    module = folder / "acme.py"
    module.write_text(ACME_MODULE.format(base_url=fake_llm.openai_base_url), encoding="utf-8")
    monkeypatch.setattr(builtin, "__path__", [*builtin.__path__, str(folder)])
    return module


async def test_one_new_module_is_a_provider_everywhere(
    acme_module: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "acme" in table.names()
    # config validation: the model reference and `preset: acme` are accepted
    loaded = load_document({"default_model": "acme/rocket-1"})
    assert unknown_providers(loaded.formation) == {}
    load_document({"providers": {"mine": {"preset": "acme"}}})
    # key lookup: its own variable
    assert env_var_for("acme") == "ACME_TOKEN"
    monkeypatch.setenv("ACME_TOKEN", "acme-key-123")
    assert find_key("acme") == ("acme-key-123", "env ACME_TOKEN")
    status = provider_status("acme", loaded.formation)
    assert status.kind == "openai" and status.has_key and status.display_name == "Acme AI"
    # doctor and first run list it
    checks = {c.name: c for c in check_providers(loaded.formation, None)}
    assert checks["provider acme"].status == "ok"
    assert "acme" in [s.name for s in firstrun.key_providers()]
    # the registry builds it, prices it, and a turn goes through
    registry = ProviderRegistry(loaded.formation)
    provider, model = registry.resolve(registry.model_for())
    assert isinstance(provider, OpenAIProvider) and provider.capabilities.vision
    assert provider.base_url == fake_llm.openai_base_url
    fake_llm.script(Text("hello from acme"))
    result = await complete(provider, LLMRequest(model=model, messages=[Message("user", "hi")]))
    assert result.text == "hello from acme"
    assert fake_llm.last_request["model"] == "rocket-1"
    assert fake_llm.last_request["headers"]["authorization"] == "Bearer acme-key-123"
    assert registry.price("acme/rocket-1", 1_000_000, 1_000_000) == pytest.approx(3.0)
    await registry.aclose()


def test_register_adds_a_provider_at_run_time(fresh_table: None) -> None:
    spec = table.register(ProviderSpec(name="plug", display_name="Plug", key_env="PLUG_KEY"))
    try:
        assert table.get("plug") is spec and env_var_for("plug") == "PLUG_KEY"
        with pytest.raises(ValueError):
            table.register(spec)  # a name is taken once
    finally:
        table.unregister("plug")
    assert table.get("plug") is None


def test_a_groq_model_works_with_groq_api_key(
    fake_llm: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`model: groq/...` and GROQ_API_KEY: nothing else (the URL points at the fake)."""
    (tmp_path / "muxi.yaml").write_text(
        "default_model: groq/llama-3.3-70b-versatile\n"
        f"providers:\n  groq: {{base_url: '{fake_llm.openai_base_url}'}}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test-123")
    fake_llm.script(Text("Fast answer."))
    result = run_muxi("chat", "hi", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Fast answer.\n"
    sent = fake_llm.last_request
    assert sent["model"] == "llama-3.3-70b-versatile"
    assert sent["headers"]["authorization"] == "Bearer gsk-test-123"
    assert "max_tokens" in sent  # an OpenAI-compatible service, not OpenAI's own parameters


def test_a_local_preset_needs_no_key(fake_llm: FakeLLM, tmp_path: Path) -> None:
    (tmp_path / "muxi.yaml").write_text(
        "default_model: lmstudio/qwen3\n"
        f"providers:\n  lmstudio: {{base_url: '{fake_llm.openai_base_url}'}}\n",
        encoding="utf-8",
    )
    fake_llm.script(Text("Local answer."))
    result = run_muxi("chat", "hi", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Local answer.\n"
    assert fake_llm.last_request["model"] == "qwen3"


def test_a_preset_under_another_name(fake_llm: FakeLLM, tmp_path: Path) -> None:
    """`preset: groq` lends its wire format and abilities to a provider of any name."""
    (tmp_path / "muxi.yaml").write_text(
        "default_model: fast/llama\n"
        "providers:\n"
        f"  fast: {{preset: groq, base_url: '{fake_llm.openai_base_url}', api_key: k-1}}\n",
        encoding="utf-8",
    )
    fake_llm.script(Text("Via a preset."))
    result = run_muxi("chat", "hi", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Via a preset.\n"
    assert fake_llm.last_request["headers"]["authorization"] == "Bearer k-1"


async def test_a_server_that_cannot_stream_is_asked_for_whole_answers(
    fake_llm: FakeLLM,
) -> None:
    """`capabilities: {streaming: false}`: the request goes without `stream`, the
    answer still arrives as chunks."""
    loaded = load_document(
        {
            "default_model": "plain/m",
            "providers": {
                "plain": {
                    "type": "openai",
                    "base_url": fake_llm.openai_base_url,
                    "capabilities": {"streaming": False},
                }
            },
        }
    )
    registry = ProviderRegistry(loaded.formation)
    provider, model = registry.resolve("plain/m")
    fake_llm.script(Text("whole"))
    result = await complete(provider, LLMRequest(model=model, messages=[Message("user", "hi")]))
    assert result.text == "whole"
    assert not fake_llm.last_request.get("stream")
    await registry.aclose()
