"""The Runtime contract against RemoteRuntime talking to a real `muxi serve`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.runtime.contract import Harness, RuntimeContract, formation_yaml
from tests.server.serveproc import ServeProcess


@pytest.fixture(scope="module")
def server(
    module_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServeProcess, str]]:
    root = tmp_path_factory.mktemp("remote-contract")
    home = root / "home"
    config = root / "muxi.yaml"
    config.write_text(formation_yaml(module_llm), encoding="utf-8")
    _, key = KeyStore(home / "data" / "server_keys.json").create("user", "alice")
    proc = ServeProcess(home, config).start()
    try:
        yield proc, key
    finally:
        code = proc.stop()
        assert code == 0, proc.log()


@pytest.fixture
async def harness(server: tuple[ServeProcess, str], module_llm: FakeLLM) -> AsyncIterator[Harness]:
    proc, key = server
    module_llm.reset()
    runtime = RemoteRuntime(proc.url, key, label="contract")
    try:
        yield Harness(runtime, module_llm, "remote")
    finally:
        await runtime.aclose()


class TestRemoteRuntimeContract(RuntimeContract):
    pass
