"""Fixtures: a short private directory for sockets, and a real LocalRuntime served
on a Unix socket in the test's event loop (stopped however the test ends)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.runtime.wire import UNIX_URL
from muxi_cli.server.context import ServerSettings
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.runtime.contract import formation_yaml


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A 0700 directory with a short path: pytest's tmp paths can pass the
    108-byte limit of a socket path."""
    path = Path(tempfile.mkdtemp(prefix="mx-", dir="/tmp"))
    path.chmod(0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class UdsServed:
    socket: Path
    runtime: Any
    keys: KeyStore
    admin: str
    alice: str
    server: Any
    ports: list[int]
    notices: list[str]

    def remote(self, key: str | None = None, **kw: Any) -> RemoteRuntime:
        kw.setdefault("on_notice", self.notices.append)
        return RemoteRuntime(UNIX_URL, key or self.alice, uds=self.socket, label="host", **kw)


@pytest.fixture
async def uds_served(tmp_path: Path, sock_dir: Path, fake_llm: FakeLLM) -> AsyncIterator[UdsServed]:
    from muxi_cli.runtime.local import LocalRuntime
    from muxi_cli.server.serve import serve_runtime

    config = tmp_path / "muxi.yaml"
    config.write_text(formation_yaml(fake_llm), encoding="utf-8")
    runtime = await LocalRuntime.open(config_path=config, start_tools=True)
    keys = KeyStore(tmp_path / "server_keys.json")
    _, admin = keys.create("admin", "admin")
    _, alice = keys.create("user", "alice")
    sock = sock_dir / "h.sock"
    ports: list[int] = []
    listening = asyncio.Event()
    ref: list[Any] = []

    def on_listening(port: int) -> None:
        ports.append(port)
        listening.set()

    task = asyncio.create_task(
        serve_runtime(
            runtime,
            keys,
            settings=ServerSettings(rate=0, shutdown_grace=2.0, auth_fail_burst=100_000),
            on_listening=on_listening,
            signals=False,
            server_ref=ref,
            uds=sock,
        )
    )
    try:
        waiter = asyncio.create_task(listening.wait())
        await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # startup failed: its error
        assert listening.is_set(), "the server did not start"
        yield UdsServed(sock, runtime, keys, admin, alice, ref[0], ports, [])
    finally:
        if ref:
            ref[0].should_exit = True
        try:
            await asyncio.wait_for(task, 20)
        finally:
            await runtime.aclose()
