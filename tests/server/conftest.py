"""Fixtures: a real uvicorn server in the test's event loop, serving a FakeRuntime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.server.context import ServerSettings
from muxi_cli.stores.media import MediaStore
from muxi_cli.stores.server_keys import KeyStore
from tests.server.fakeruntime import FakeRuntime


@dataclass
class Served:
    url: str
    runtime: FakeRuntime
    keys: KeyStore
    admin: str
    alice: str
    bob: str
    server: Any
    task: asyncio.Task[None]
    notices: list[str]

    def remote(self, key: str | None, **kw: Any) -> RemoteRuntime:
        kw.setdefault("on_notice", self.notices.append)
        return RemoteRuntime(self.url, key, label="test", **kw)

    def headers(self, key: str, **extra: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}", **extra}


async def start_server(
    runtime: Any, keys: KeyStore, settings: ServerSettings, port: int = 0, media_store: Any = None
) -> tuple[str, Any, asyncio.Task[None]]:
    from muxi_cli.server.serve import serve_runtime

    ports: list[int] = []
    ref: list[Any] = []
    task = asyncio.create_task(
        serve_runtime(
            runtime,
            keys,
            "127.0.0.1",
            port,
            settings,
            on_listening=ports.append,
            signals=False,
            server_ref=ref,
            media_store=media_store,
        )
    )
    for _ in range(500):
        if ports or task.done():
            break
        await asyncio.sleep(0.01)
    if not ports:
        if task.done():
            task.result()
        raise AssertionError("the server did not start")
    return f"http://127.0.0.1:{ports[0]}", ref[0], task


async def stop_server(server: Any, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await asyncio.wait_for(task, 20)


@pytest.fixture
def settings() -> ServerSettings:
    # Many tests send bad keys on purpose: a roomy failed-auth budget (it is always on).
    return ServerSettings(rate=0, shutdown_grace=2.0, auth_fail_burst=100_000)


@pytest.fixture
async def served(tmp_path: Path, settings: ServerSettings) -> AsyncIterator[Served]:
    runtime = FakeRuntime()
    # The real media store (per owner, on disk), as LocalRuntime's store.media.
    runtime.media_store = MediaStore(tmp_path / "media")  # type: ignore[assignment]
    keys = KeyStore(tmp_path / "server_keys.json")
    _, admin = keys.create("admin", "admin")
    _, alice = keys.create("user", "alice")
    _, bob = keys.create("user", "bob")
    url, server, task = await start_server(runtime, keys, settings, media_store=runtime.media_store)
    s = Served(url, runtime, keys, admin, alice, bob, server, task, [])
    try:
        yield s
    finally:
        await stop_server(server, task)
        runtime.media_store.close()


from tests.server.replicas import pair  # noqa: E402, F401  (fixture: two replicas on PostgreSQL)
from tests.server.udsfixtures import sock_dir, uds_served  # noqa: E402, F401  (fixtures)
