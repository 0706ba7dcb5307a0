"""The one probe of local model servers: Ollama's model list, an OpenAI-compatible
server's, and a model's context size, against the fake model server."""

from __future__ import annotations

import pytest

from muxi_cli.providers.local import context_size, probe, probe_ollama
from tests.fakellm import FakeLLM
from tests.net import free_port


def test_an_openai_compatible_server_lists_its_models(fake_llm: FakeLLM) -> None:
    fake_llm.models = [f"m{i}" for i in range(7)]
    found = probe(fake_llm.openai_base_url)
    assert found.reachable and found.models == fake_llm.models
    assert found.detail.endswith("(7 models: m0, m1, m2, m3, m4 and 2 more)")
    assert fake_llm.gets == ["/v1/models"]


def test_a_server_without_the_route_is_still_reachable(fake_llm: FakeLLM) -> None:
    found = probe(fake_llm.url + "/nowhere")
    assert found.reachable and found.models is None
    assert "HTTP 404" in found.detail


def test_nobody_listening_is_not_reachable() -> None:
    found = probe(f"http://127.0.0.1:{free_port()}/v1", timeout=0.5)
    assert not found.reachable and found.detail.startswith("not reachable at")


def test_ollama_lists_its_tags(fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    assert probe_ollama() is None  # MUXI_NO_OLLAMA_PROBE=1 in tests: never asked
    monkeypatch.delenv("MUXI_NO_OLLAMA_PROBE")
    monkeypatch.setenv("OLLAMA_HOST", fake_llm.url)
    fake_llm.ollama_models = ["llama3.2:latest"]
    found = probe_ollama()
    assert found is not None and found.reachable and found.models == ["llama3.2:latest"]
    assert fake_llm.gets == ["/api/tags"]


def test_context_size_from_props_or_the_model_list(fake_llm: FakeLLM) -> None:
    fake_llm.props = {"default_generation_settings": {"n_ctx": 4096}}
    assert context_size(fake_llm.openai_base_url, "any") == 4096
    fake_llm.props = None
    assert context_size(fake_llm.openai_base_url, "fake-model") is None  # listed, no size
    assert context_size(f"http://127.0.0.1:{free_port()}/v1", "m") is None  # never raises
