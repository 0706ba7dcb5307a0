"""Fixtures of the memory tests: real LanceDB in the temp MUXI_HOME, fast embedders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from muxi_cli.config.schema import Formation
from muxi_cli.memory.embeddings import HashEmbedder, LocalEmbedder
from muxi_cli.memory.service import MemoryService
from muxi_cli.stores.lance_store import LanceStore

FIXTURES = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    """The real ONNX MiniLM; the model itself is cached per process."""
    embedder = LocalEmbedder()
    embedder.embed_sync(["warm up"])
    return embedder


def formation(**memory: Any) -> Formation:
    return Formation.model_validate({"memory": memory} if memory else {})


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[MemoryService]:
    svc = MemoryService(formation(embedding="hash"), None, base_dir=tmp_path)
    yield svc
    await svc.aclose()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LanceStore]:
    embedder = HashEmbedder()
    opened = await LanceStore(
        str(tmp_path / "store"), embedding_model=embedder.name, dims=embedder.dims
    ).open()
    yield opened
    await opened.close()


def fake_formation(fake_llm: Any, extra: str = "") -> Formation:
    """A formation whose model is the fake LLM server."""
    return Formation.model_validate(yaml.safe_load(fake_llm.formation_yaml(extra=extra)))


def registry_for(formation_: Formation) -> Any:
    from muxi_cli.llm.registry import ProviderRegistry

    return ProviderRegistry(formation_)
