"""Which models take which media: per model from the provider table, overridable
per provider and per model in muxi.yaml."""

from __future__ import annotations

from typing import Any

import pytest

from muxi_cli.config.schema import Formation
from muxi_cli.llm.registry import ProviderRegistry
from muxi_cli.providers import table


def registry(**providers: Any) -> ProviderRegistry:
    base = {
        "openai": {"api_key": "sk-test"},
        "anthropic": {"api_key": "sk-ant-test"},
        "groq": {"api_key": "gsk-test"},
    }
    base.update(providers)
    return ProviderRegistry(Formation.model_validate({"providers": base}))


@pytest.mark.parametrize(
    ("ref", "vision", "documents", "audio_in"),
    [
        ("openai/gpt-4o", True, True, False),
        ("openai/gpt-4o-mini", True, True, False),
        ("openai/gpt-4.1-nano", True, True, False),
        ("openai/gpt-5.5", True, True, False),
        ("openai/o3", True, True, False),
        ("openai/o3-mini", False, False, False),
        ("openai/gpt-4o-audio-preview", False, False, True),
        ("openai/gpt-3.5-turbo", False, False, False),
        ("anthropic/claude-sonnet-4-5", True, True, False),
        ("anthropic/claude-3-haiku-20240307", True, True, False),
        ("anthropic/claude-2.1", False, False, False),
        ("groq/meta-llama/llama-4-scout-17b-16e-instruct", True, False, False),
        ("groq/llama-3.3-70b-versatile", False, False, False),
        ("ollama/llava:13b", True, False, False),
        ("ollama/qwen2.5vl:7b", True, False, False),
        ("ollama/gemma3:4b", True, False, False),
        ("ollama/gemma3:1b", False, False, False),
        ("ollama/llama3.2", False, False, False),
        ("deepseek/deepseek-chat", False, False, False),
    ],
)
def test_capabilities_per_model(ref: str, vision: bool, documents: bool, audio_in: bool) -> None:
    found = registry(deepseek={"api_key": "sk-ds"}).media_support(ref)
    assert (found.vision, found.documents, found.audio_in) == (vision, documents, audio_in)


def test_each_provider_has_its_documented_image_limits() -> None:
    reg = registry()
    anthropic = reg.media_support("anthropic/claude-sonnet-4-5").limits
    assert anthropic.max_bytes == 5 * 1024 * 1024 * 3 // 4  # 5 MB of base64 text
    assert (anthropic.max_long_edge, anthropic.max_count) == (1568, 100)
    openai = reg.media_support("openai/gpt-4o").limits
    assert (openai.max_bytes, openai.max_count) == (20 * 1024 * 1024, 500)
    assert openai.request_bytes == 50 * 1024 * 1024
    assert reg.media_support("openai/gpt-4o-audio-preview").audio_types == {
        "audio/wav",
        "audio/mpeg",
    }
    assert reg.media_support("ollama/llava").limits == table.get("ollama").image_limits  # type: ignore[union-attr]
    # A server named by its wire format only gets its wire's limits.
    custom = registry(
        claudeish={"type": "anthropic", "base_url": "https://llm.example/v1", "api_key": "k"}
    )
    assert custom.media_support("claudeish/any").limits == anthropic


def test_a_provider_setting_and_a_model_setting_override_the_table() -> None:
    reg = registry(
        ollama={
            "capabilities": {"vision": True},
            "models": {"tiny-*": {"vision": False}, "llava-doc": {"documents": True}},
        },
        openai={"api_key": "sk-test", "models": {"gpt-4o": {"audio_in": True}}},
    )
    assert reg.media_support("ollama/llama3.2").vision is True  # the whole server
    assert reg.media_support("ollama/tiny-llama").vision is False  # one model (glob)
    assert reg.media_support("ollama/llava-doc").documents is True  # an exact name
    assert reg.media_support("openai/gpt-4o").audio_in is True
    # Anthropic's wire takes no audio, whatever is set.
    assert (
        registry(anthropic={"api_key": "k", "capabilities": {"audio_in": True}})
        .media_support("anthropic/claude-sonnet-4-5")
        .audio_in
        is False
    )


def test_the_media_settings_parse_and_an_agent_wins() -> None:
    formation = Formation.model_validate(
        {
            "media": {"fallback": "ocr"},
            "agents": [{"name": "a"}, {"name": "b", "media": {"fallback": "error"}}],
        }
    )
    assert formation.media.fallback == "ocr"
    assert formation.agents[1].media is not None and formation.agents[1].media.fallback == "error"
    with pytest.raises(ValueError):
        Formation.model_validate({"media": {"fallback": "caption-everything"}})
