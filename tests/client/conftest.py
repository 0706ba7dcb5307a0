"""A real ``muxi serve`` for the client tests: one per module, the contract formation.

The server runs the formation of tests/runtime/contract.py (agent
``assistant`` with the calculator, which asks for approval) against the fake
LLM, with a 1 MB upload limit so a 413 is cheap to reach. Keys are made in
its key store before it starts: an admin key and a user key for ``alice``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from muxi_cli.client import AsyncClient
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.runtime.contract import formation_yaml
from tests.server.serveproc import ServeProcess


@dataclass
class Served:
    proc: ServeProcess
    llm: FakeLLM
    admin_key: str
    user_key: str

    @property
    def url(self) -> str:
        return self.proc.url


@pytest.fixture(scope="module")
def served(module_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("client")
    home = root / "home"
    config = root / "muxi.yaml"
    config.write_text(formation_yaml(module_llm), encoding="utf-8")
    keys = KeyStore(home / "data" / "server_keys.json")
    _, admin = keys.create("admin", "root")
    _, user = keys.create("user", "alice")
    proc = ServeProcess(home, config, args=("--max-upload-mb", "1")).start()
    try:
        yield Served(proc, module_llm, admin, user)
    finally:
        code = proc.stop()
        assert code == 0, proc.log()


@pytest.fixture
async def client(served: Served) -> AsyncIterator[AsyncClient]:
    """Alice's client; the fake LLM starts each test with no scripted replies."""
    served.llm.reset()
    async with AsyncClient(served.url, served.user_key) as c:
        yield c


@pytest.fixture
async def admin(served: Served) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(served.url, served.admin_key) as c:
        yield c
