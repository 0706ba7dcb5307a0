"""Fixtures of the cluster tests: replicas of ``muxi serve`` behind HAProxy (rig.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.rig import Cluster
from tests.fakellm import FakeLLM


@pytest.fixture(scope="module")
def cluster(module_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three replicas on shared SQLite (one data folder) behind HAProxy, serving the
    Runtime contract's formation; a user key for ``alice`` in ``cluster.alice``."""
    rig = Cluster.serving(module_llm, tmp_path_factory.mktemp("cluster"), 3)
    rig.alice = rig.create_key("user", "alice")  # type: ignore[attr-defined]
    with rig:
        yield rig
