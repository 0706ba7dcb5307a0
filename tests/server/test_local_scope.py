"""A real LocalRuntime behind the server: session ids and prefixes stay per user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.runtime.local import LocalRuntime
from muxi_cli.server.context import ServerSettings
from muxi_cli.stores.server_keys import KeyStore
from tests.server.conftest import start_server, stop_server


@dataclass
class LocalServed:
    url: str
    runtime: LocalRuntime
    admin: str
    alice: str


@pytest.fixture
async def local_served(tmp_path: Path) -> AsyncIterator[LocalServed]:
    runtime = await LocalRuntime.open(start_tools=False, sessions_path=tmp_path / "sessions.db")
    keys = KeyStore(tmp_path / "server_keys.json")
    _, admin = keys.create("admin", "admin")
    _, alice = keys.create("user", "alice")
    url, server, task = await start_server(runtime, keys, ServerSettings(rate=0))
    try:
        yield LocalServed(url, runtime, admin, alice)
    finally:
        await stop_server(server, task)
        await runtime.aclose()


def _auth(key: str) -> dict[str, Any]:
    return {"authorization": f"Bearer {key}"}


async def test_a_session_prefix_never_reveals_another_users_sessions(
    local_served: LocalServed,
) -> None:
    store = local_served.runtime.store
    store.create_session("bob", title="bob's medical notes", session_id="s_shared1")
    store.create_session("bob", title="bob's tax return", session_id="s_shared2")
    mine = store.create_session("alice", title="alice's plans", session_id="s_alice1")
    async with httpx.AsyncClient(base_url=local_served.url) as c:
        # A prefix of bob's sessions: plain "not found", no ids, no titles.
        for path in ("/v1/sessions/s_shared", "/v1/sessions/shared"):
            r = await c.get(path, headers=_auth(local_served.alice))
            assert r.status_code == 404, r.text
            assert "bob" not in r.text and "s_shared1" not in r.text
        r = await c.post(
            "/v1/chat",
            json={"message": "hi", "session_id": "s_shared"},
            headers=_auth(local_served.alice),
        )
        assert r.status_code == 404, r.text
        assert "bob" not in r.text and "s_shared1" not in r.text
        # Her own sessions still open by prefix.
        r = await c.get("/v1/sessions/s_alice", headers=_auth(local_served.alice))
        assert r.status_code == 200, r.text
        assert r.json()["id"] == mine.id
        # An admin reaches any user's session by prefix.
        r = await c.get("/v1/sessions/s_shared1", headers=_auth(local_served.admin))
        assert r.status_code == 200 and r.json()["user_id"] == "bob"
