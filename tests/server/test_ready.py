"""``/ready``: 200 when the database and storage answer and the replica is not
draining, 503 with the reason otherwise; every answer names its replica."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from muxi_cli.server.context import ServerSettings
from muxi_cli.server.ready import REPLICA_HEADER
from muxi_cli.stores.media import MediaStore
from muxi_cli.stores.server_keys import KeyStore
from muxi_cli.stores.sessions import SessionStore
from tests.s3rig import Moto, moto
from tests.server.conftest import Served, start_server, stop_server
from tests.server.fakeruntime import FakeRuntime


async def _ready(url: str) -> tuple[int, dict[str, Any], httpx.Headers]:
    async with httpx.AsyncClient(base_url=url) as c:
        resp = await c.get("/ready")
    return resp.status_code, resp.json(), resp.headers


async def test_ready_checks_the_database_and_every_answer_names_its_replica(
    served: Served, tmp_path: Path
) -> None:
    # A runtime without a sessions store (a test runtime): only the keys are checked.
    status, body, headers = await _ready(served.url)
    assert status == 200 and body["ready"] is True
    assert body["checks"] == {"database": "ok", "storage": "local"}
    # One id names the replica everywhere: answers, /ready, the event log, the control tables.
    replica = body["replica"]
    assert replica == headers[REPLICA_HEADER]
    assert replica.startswith("rep_") and len(replica) == 16
    async with httpx.AsyncClient(base_url=served.url) as c:
        assert (await c.get("/health")).headers[REPLICA_HEADER] == replica
        assert (await c.get("/v1/sessions")).headers[REPLICA_HEADER] == replica

    store = SessionStore(tmp_path / "sessions.db")
    served.runtime.store = store  # type: ignore[attr-defined]
    try:
        assert (await _ready(served.url))[0] == 200
        # A database that cannot be opened: not ready, and why.
        (tmp_path / "broken").mkdir()
        served.runtime.store = SessionStore(tmp_path / "broken")  # type: ignore[attr-defined]
        status, body, _ = await _ready(served.url)
        assert status == 503 and body["ready"] is False
        assert body["checks"]["database"] == "failed"
        assert body["reason"].startswith("database: The sessions database")
    finally:
        store.close()


async def test_a_draining_replica_is_not_ready(served: Served) -> None:
    await served.server.config.app.state.ctx.registry.drain(0.1)
    status, body, _ = await _ready(served.url)
    assert status == 503 and body["reason"].startswith("draining")
    async with httpx.AsyncClient(base_url=served.url) as c:
        health = await c.get("/health")
    assert health.status_code == 200 and health.json()["draining"] is True


@pytest.fixture(scope="module")
def s3() -> Iterator[Moto]:
    with moto() as server:
        yield server


@pytest.mark.slow
async def test_ready_checks_object_storage(
    s3: Moto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    bucket = s3.bucket("muxi-ready")
    media = MediaStore(tmp_path / "media", url=f"s3://{bucket}/media?endpoint={s3.endpoint}")
    runtime = FakeRuntime()
    # The memory store in the same bucket (the runtime's MemoryService has ``uri``).
    runtime.memory = SimpleNamespace(uri=f"s3://{bucket}/memory?endpoint={s3.endpoint}")  # type: ignore[assignment]
    keys = KeyStore(tmp_path / "server_keys.json")
    url, server, task = await start_server(runtime, keys, ServerSettings(), media_store=media)
    try:
        status, body, _ = await _ready(url)
        assert status == 200, body
        assert body["checks"] == {"database": "ok", "storage": "ok"}
        # A key the storage refuses (read again by each memory-store check; the media
        # store keeps the key it read first): out of rotation, with the storage's answer.
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        status, body, _ = await _ready(url)
        assert status == 503 and body["checks"]["storage"] == "failed"
        assert body["reason"] == (
            f"storage: Object storage s3://{bucket}/memory at {s3.endpoint}: "
            "HEAD meta.lance/.muxi-ready failed: HTTP 403."
        )
    finally:
        await stop_server(server, task)
        media.close()
