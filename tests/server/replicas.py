"""Two servers sharing one PostgreSQL database, as two replicas behind a load balancer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from muxi_cli.server.context import ServerSettings
from muxi_cli.stores import pgconn
from muxi_cli.stores.pg_keys import PgKeyStore
from tests.server.conftest import start_server, stop_server
from tests.server.fakeruntime import FakeRuntime


@dataclass
class Replica:
    url: str
    runtime: FakeRuntime
    keys: PgKeyStore
    server: Any
    task: asyncio.Task[None]

    @property
    def ctx(self) -> Any:
        return self.server.config.app.state.ctx


@dataclass
class Pair:
    a: Replica
    b: Replica
    admin: str
    alice: str
    bob: str

    @staticmethod
    def headers(key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}


def replica_settings(**kw: Any) -> ServerSettings:
    kw.setdefault("rate", 0)
    return ServerSettings(shutdown_grace=2.0, auth_fail_burst=100_000, ws_key_check=0.2, **kw)


@pytest.fixture
async def pair(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> AsyncIterator[Pair]:
    """Two replicas; ``@pytest.mark.parametrize("pair", [{...}], indirect=True)``
    gives their settings."""
    settings = replica_settings(**getattr(request, "param", {}))
    monkeypatch.setenv(pgconn.URL_ENV, pg_url)
    keys = PgKeyStore(pg_url, env_admin_key="")
    _, admin = keys.create("admin", "admin")
    _, alice = keys.create("user", "alice")
    _, bob = keys.create("user", "bob")
    keys.close()
    started: list[Replica] = []
    try:
        for _ in range(2):
            runtime, store = FakeRuntime(), PgKeyStore(pg_url, env_admin_key="")
            url, server, task = await start_server(runtime, store, settings)
            started.append(Replica(url, runtime, store, server, task))
        yield Pair(started[0], started[1], admin, alice, bob)
    finally:
        for rep in started:
            await stop_server(rep.server, rep.task)
            rep.keys.close()
