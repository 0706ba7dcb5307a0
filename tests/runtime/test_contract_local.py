"""The Runtime contract against LocalRuntime (agents in this process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakellm import FakeLLM
from tests.runtime.contract import Harness, RuntimeContract, formation_yaml


@pytest.fixture
async def harness(fake_llm: FakeLLM, tmp_path: Path) -> AsyncIterator[Harness]:
    from muxi_cli.runtime.local import LocalRuntime

    path = tmp_path / "muxi.yaml"
    path.write_text(formation_yaml(fake_llm), encoding="utf-8")
    runtime = await LocalRuntime.open(config_path=path, start_tools=True)
    try:
        yield Harness(runtime, fake_llm, "local")
    finally:
        await runtime.aclose()


class TestLocalRuntimeContract(RuntimeContract):
    pass
