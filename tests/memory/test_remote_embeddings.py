"""``memory.embedding: <provider>/<model>`` through the provider table, against the fake
LLM's ``/v1/embeddings`` with the real openai SDK; switching models with reindex."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.errors import ConfigError
from muxi_cli.memory.embeddings import OpenAIEmbedder, embedder_for
from muxi_cli.memory.service import MemoryService
from tests.fakellm import fake_embedding

from .conftest import formation

PROBE = "dimension probe"


def _form(**memory: Any) -> Any:
    from muxi_cli.config.schema import Formation

    providers = memory.pop("providers", {})
    return Formation.model_validate({"memory": memory, "providers": providers})


def _probes(fake_llm: Any) -> int:
    return sum(1 for r in fake_llm.embedding_requests if r["input"] == [PROBE])


async def test_a_local_server_needs_no_key_and_its_dims_are_probed_once(
    fake_llm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", fake_llm.url)  # found as chat models find it
    fake_llm.embedding_dims_for["nomic-embed-text"] = 48
    form = _form(embedding="ollama/nomic-embed-text", uri=str(tmp_path / "s"))
    svc = MemoryService(form, None, base_dir=tmp_path)
    store = await svc.store()  # one call tells the dimensions
    assert _probes(fake_llm) == 1 and len(fake_llm.embedding_requests) == 1
    assert (await store.meta())["dims"] == "48" and store.embedding_model == svc.embedder.name
    assert svc.embedder.name == "ollama/nomic-embed-text"
    item = await svc.add("User keeps bees on the roof", "u1")
    hits = await svc.search("bees on the roof", "u1")
    assert hits[0].id == item.id
    await svc.aclose()
    sent = fake_llm.embedding_requests[-1]
    assert sent["model"] == "nomic-embed-text" and sent["encoding_format"] == "float"
    assert "authorization" in sent["headers"]  # a placeholder: the SDK insists on one
    # The next process takes the dimensions the store recorded instead of asking again.
    calls = len(fake_llm.embedding_requests)
    again = MemoryService(form, None, base_dir=tmp_path)
    await again.store()
    assert len(fake_llm.embedding_requests) == calls and again.embedder.dims == 48
    assert (await again.search("bees", "u1"))[0].id == item.id
    await again.aclose()


async def test_vectors_are_normalised_and_base64_is_decoded(fake_llm: Any) -> None:
    embedder = OpenAIEmbedder(
        "m", api_key="sk-x", base_url=fake_llm.openai_base_url, provider="vllm"
    )  # OpenAI's own API takes the SDK's default encoding (base64)
    vectors = await embedder.embed(["alpha beta", "gamma"])
    assert fake_llm.embedding_requests[-1]["encoding_format"] == "base64"
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], fake_embedding("alpha beta", 64, "m"), atol=1e-5)
    assert embedder.dims == 64


def test_keys_and_urls_resolve_as_for_chat_models(
    fake_llm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-env")
    groq = embedder_for("groq/embedder", _form())
    assert isinstance(groq, OpenAIEmbedder)
    assert groq._api_key == "gsk-env" and groq._base_url == "https://api.groq.com/openai/v1"
    from muxi_cli.secrets import set_secret

    set_secret("provider:deepseek", "ds-keyring")  # what `muxi keys set deepseek` stores
    deepseek = embedder_for("deepseek/embedder", _form())
    assert isinstance(deepseek, OpenAIEmbedder) and deepseek._api_key == "ds-keyring"
    own = _form(providers={"mine": {"preset": "llama-cpp", "base_url": fake_llm.openai_base_url}})
    mine = embedder_for("mine/bge-small", own)
    assert isinstance(mine, OpenAIEmbedder) and mine.name == "mine/bge-small"
    assert mine._base_url == fake_llm.openai_base_url and not mine._needs_key


async def test_a_hosted_provider_without_a_key_says_which(monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = embedder_for("mistral/mistral-embed", _form())
    with pytest.raises(ConfigError) as info:
        await embedder.embed(["x"])
    assert "MISTRAL_API_KEY" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("value", "providers", "says"),
    [
        ("anthropic/claude-embed", {}, "speaks no /v1/embeddings"),
        ("nosuch/model", {}, "not a known provider"),
        ("claude/x", {"claude": {"type": "anthropic", "base_url": "http://x"}}, "speaks no"),
        ("word2vec", {}, "unknown embedding model"),
    ],
)
def test_a_provider_that_cannot_embed_is_a_config_error(
    value: str, providers: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError) as info:
        embedder_for(value, _form(providers=providers))
    assert says in info.value.message
    hint = info.value.hint or ""
    assert "local" in hint and "ollama" in hint and "openai" in hint and "anthropic," not in hint


def _run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_switch_from_local_to_ollama_with_reindex(
    fake_llm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_embedder: Any
) -> None:
    monkeypatch.setenv("MUXI_USER_ID", "u1")
    config = tmp_path / "muxi.yaml"
    config.write_text("memory:\n  embedding: local\n")
    runner = CliRunner()
    texts = ["User keeps bees on the roof", "User's sister lives in Porto"]
    ids = []
    for text in texts:
        code, out, err = _run(runner, "memory", "add", text)
        assert code == 0, err
        ids.append(out.strip())

    config.write_text(
        "memory:\n  embedding: ollama/nomic-embed-text\n"
        f"providers:\n  ollama:\n    base_url: {fake_llm.openai_base_url}\n"
    )
    code, _out, err = _run(runner, "memory", "search", "bees")
    assert code != 0 and "muxi memory reindex" in err
    assert "local/all-MiniLM-L6-v2-int8" in err
    code, _out, err = _run(runner, "memory", "reindex", "--yes")
    assert code == 0 and "re-embedded 2 memories" in err, err
    code, out, err = _run(runner, "memory", "search", "where does my sister live", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["id"] == ids[1]
    code, out, _err = _run(runner, "memory", "stats", "--json")
    stats = json.loads(out)
    assert stats["embedding_model"] == "ollama/nomic-embed-text" and not stats["needs_reindex"]
    reembedded = {t for r in fake_llm.embedding_requests for t in r["input"]}
    assert set(texts) <= reembedded


def test_formation_helper_still_builds_local() -> None:
    assert embedder_for(formation().memory.embedding).name.startswith("local/")
