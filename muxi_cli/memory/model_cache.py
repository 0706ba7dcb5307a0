"""The local embedding model's ONNX session, from an optimized copy kept in the cache.

Building an ONNX Runtime session optimizes the model's graph first: about 0.2 s
for the int8 MiniLM, paid by every process that embeds (a one-shot ``muxi chat``
that recalls memories). The first load saves the optimized graph
(``optimized_model_filepath``) to the cache folder; later loads read that copy
with graph optimization switched off, which takes about half the time and gives
the same vectors. The copy is keyed by the pinned model hash, the onnxruntime
version and the machine (an optimized graph may hold hardware-specific kernels),
and checked against the sha256 recorded beside it when it was written: a damaged
or foreign copy is rebuilt, never run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
from pathlib import Path
from typing import Any

from muxi_cli import paths


def cached_path(model_sha256: str, ort_version: str) -> Path:
    key = f"{model_sha256[:16]}-ort{ort_version}-{platform.machine()}"
    return paths.cache_dir() / "embeddings" / f"minilm-int8-{key}.onnx"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_session(ort: Any, options: Any, model_sha256: str) -> Any | None:
    """A session on the optimized copy, or None when there is no sound copy."""
    path = cached_path(model_sha256, ort.__version__)
    digest = path.with_suffix(".sha256")
    try:
        if digest.read_text(encoding="ascii").strip() != file_sha256(path):
            return None
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception:  # no copy yet, or one this onnxruntime cannot read: build it again
        return None


def build_session(ort: Any, options: Any, model: Path, model_sha256: str) -> Any:
    """A session on the original model that also writes the optimized copy (best effort)."""
    target = cached_path(model_sha256, ort.__version__)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    # Extended, not all: the copy must not depend on layout choices made for this run.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        options.optimized_model_filepath = str(partial)
    except OSError:
        partial = None  # type: ignore[assignment]  # a read-only cache: no copy
    session = ort.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    if partial is not None and partial.is_file():
        with contextlib.suppress(OSError):
            target.with_suffix(".sha256").write_text(file_sha256(partial), encoding="ascii")
            os.replace(partial, target)  # complete or absent, never half written
        with contextlib.suppress(OSError):
            partial.unlink()
    return session
