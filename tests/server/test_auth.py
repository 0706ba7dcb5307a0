"""Keys and users: missing, bad and revoked keys; admin vs user; cross-user access."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.protocol.events import ToolApproval, decode
from muxi_cli.server.routes import ROUTES
from muxi_cli.stores.server_keys import KeyStore
from tests.server.conftest import Served
from tests.server.fakeruntime import Script

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/chat"): {"message": "hello", "approval": "deny"},
    ("POST", "/v1/approvals/{call_id}"): {"decision": "allow"},
    ("PATCH", "/v1/sessions/{session_id}"): {"title": "stolen"},
    ("POST", "/v1/memory"): {"text": "bob's fact"},
    ("POST", "/v1/keys"): {"role": "user", "user_id": "mallory"},
    ("POST", "/v1/mcp/servers"): {"name": "evil", "server": {"command": "sh"}},
    ("POST", "/v1/mcp/prompts/render"): {"server": "time", "name": "tz"},
    ("POST", "/v1/mcp/servers/{server_name}/call"): {"tool": "get_current_time"},
    ("POST", "/v1/mcp/servers/{server_name}/login/complete"): {
        "redirect": "http://127.0.0.1/v1/mcp/oauth/callback?code=c&state=s"
    },
}


def _err(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body["error"]) == {"code", "message", "hint"}
    return dict(body["error"])


async def test_health_needs_no_key_but_v1_does(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        assert (await c.get("/health")).status_code == 200
        for method, path, _kind in ROUTES:
            r = await c.request(method, path.replace("{", "x").replace("}", ""), json={})
            assert r.status_code == 401, (method, path, r.text)
            assert _err(r)["code"] == "unauthorized"
            assert "bearer" in r.headers["www-authenticate"].lower()


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer nope"},
        {"authorization": "Bearer muxi_0000000000_abc"},
        {"x-muxi-key": "muxi_deadbeef00_" + "x" * 43},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Bearer " + "a" * 2000},
    ],
)
async def test_bad_keys_get_401(served: Served, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await c.get("/v1/agents", headers=headers)
    assert r.status_code == 401
    err = _err(r)
    assert err["hint"]
    # The presented key never comes back.
    for value in headers.values():
        assert value.split()[-1] not in r.text


async def test_a_tampered_secret_is_refused(served: Served) -> None:
    tampered = served.alice[:-1] + ("A" if served.alice[-1] != "A" else "B")
    async with httpx.AsyncClient(base_url=served.url) as c:
        assert (await c.get("/v1/me", headers=served.headers(tampered))).status_code == 401
        ok = await c.get("/v1/me", headers={"x-muxi-key": served.alice})
    assert ok.json() == {
        "key_id": ok.json()["key_id"],
        "role": "user",
        "user_id": "alice",
        "scopes": ["*"],
    }


async def test_revoked_key_is_refused_without_restart(served: Served) -> None:
    alice_id = served.alice.split("_")[1]
    async with httpx.AsyncClient(base_url=served.url) as c:
        assert (await c.get("/v1/me", headers=served.headers(served.alice))).status_code == 200
        # Another process (the `muxi keys revoke` CLI) edits the file.
        KeyStore(served.keys.path).revoke(alice_id)
        r = await c.get("/v1/me", headers=served.headers(served.alice))
        assert r.status_code == 401
        # A key created meanwhile works at once.
        _, carol = KeyStore(served.keys.path).create("user", "carol")
        r = await c.get("/v1/me", headers=served.headers(carol))
        assert r.status_code == 200 and r.json()["user_id"] == "carol"


async def test_user_header_is_for_admins_only(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await c.get("/v1/me", headers=served.headers(served.admin))
        assert r.json()["user_id"] == "admin" and r.json()["role"] == "admin"
        r = await c.get("/v1/me", headers=served.headers(served.admin, **{"x-muxi-user-id": "bob"}))
        assert r.json()["user_id"] == "bob"
        # A user key ignores the header: it always acts as its own user.
        r = await c.get("/v1/me", headers=served.headers(served.alice, **{"x-muxi-user-id": "bob"}))
        assert r.json()["user_id"] == "alice"
        r = await c.get(
            "/v1/me", headers=served.headers(served.admin, **{"x-muxi-user-id": "bad user!"})
        )
        assert r.status_code == 400


async def test_admin_key_management(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        admin = served.headers(served.admin)
        r = await c.post("/v1/keys", json={"role": "user", "user_id": "dave"}, headers=admin)
        assert r.status_code == 201
        created = r.json()
        secret = created.pop("key")
        assert secret.startswith("muxi_") and "hash" not in created and "salt" not in created
        listed = (await c.get("/v1/keys", headers=admin)).json()
        assert {k["user_id"] for k in listed} >= {"alice", "bob", "dave"}
        assert secret not in json.dumps(listed)
        assert all("hash" not in k and "salt" not in k for k in listed)
        r = await c.get("/v1/me", headers=served.headers(secret))
        assert r.json()["user_id"] == "dave"
        r = await c.delete(f"/v1/keys/{created['id']}", headers=admin)
        assert r.status_code == 200 and r.json()["revoked_at"]
        assert (await c.get("/v1/me", headers=served.headers(secret))).status_code == 401
        assert (await c.delete("/v1/keys/nope", headers=admin)).status_code == 404


async def _alice_world(served: Served, c: httpx.AsyncClient) -> dict[str, Any]:
    """Alice's session, memory and a running turn with a pending approval."""
    alice = served.headers(served.alice)
    r = await c.post("/v1/chat", json={"message": "alice secret plan"}, headers=alice)
    sid = r.json()["session_id"]
    r = await c.post("/v1/memory", json={"text": "alice likes tea"}, headers=alice)
    mem = r.json()["id"]
    files = {"file": ("alice.txt", b"alice secret notes", "text/plain")}
    r = await c.post("/v1/media", files=files, headers=alice)
    media = r.json()["id"]
    return {
        "session_id": sid,
        "memory_id": mem,
        "media_id": media,
        "key_id": served.alice.split("_")[1],
    }


@pytest.mark.parametrize(("method", "path", "kind"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_bob_cannot_touch_alice_data(
    served: Served, method: str, path: str, kind: str
) -> None:
    hold = asyncio.Event()
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as c:
        world = await _alice_world(served, c)
        served.runtime.script(Script(text="hi there", tool=True, hold=hold))
        # Alice's interactive turn, waiting for her approval.
        pending: dict[str, str] = {}
        got_pending = asyncio.Event()

        async def alice_turn() -> None:
            async with c.stream(
                "POST",
                "/v1/chat",
                json={"message": "use a tool", "approval": "interactive"},
                headers={**served.headers(served.alice), "accept": "text/event-stream"},
            ) as resp:
                async for line in resp.aiter_lines():
                    if line.startswith("data: "):
                        ev = decode(line[6:])
                        pending.setdefault("run_id", ev.run_id)
                        if isinstance(ev, ToolApproval) and ev.decision == "pending":
                            pending["call_id"] = ev.call_id
                            got_pending.set()

        task = asyncio.create_task(alice_turn())
        await asyncio.wait_for(got_pending.wait(), 10)
        world.update(pending)

        url = path.format(
            **{
                k: world.get(k, "x")
                for k in (
                    "session_id",
                    "memory_id",
                    "media_id",
                    "call_id",
                    "run_id",
                    "key_id",
                    "server_name",
                )
            }
        )
        body = dict(BODIES.get((method, path), {}))
        if (method, path) == ("POST", "/v1/chat"):
            body["session_id"] = world["session_id"]
        params: dict[str, str] | None = None
        if path.endswith("/search"):
            params = {"q": "alice tea plan"}
        elif path.endswith("/resources/read"):
            params = {"server": "time", "uri": "time://zones"}
        bob = served.headers(served.bob, **{"x-muxi-user-id": "alice"})
        if (method, path) == ("POST", "/v1/media"):  # an upload lands in bob's own store
            files = {"file": ("bob.txt", b"bob's notes", "text/plain")}
            r = await c.post(url, files=files, headers=bob)
        else:
            r = await c.request(method, url, json=body or None, params=params, headers=bob)

        if kind == "admin":
            assert r.status_code == 403, r.text
        elif kind == "oauth":  # bob's own login; the test runtime has no OAuth server
            assert r.status_code in (200, 400, 404), r.text
            assert "alice" not in r.text
        elif kind in ("session", "memory", "media", "call", "run"):
            assert r.status_code == 404, r.text
            assert _err(r)["code"] == "not_found"
        else:
            assert r.status_code < 300, r.text
            for secret in (
                "alice",
                world["session_id"],
                world["memory_id"],
                world["media_id"],
                "tea",
            ):
                assert secret not in r.text, (path, r.text)

        # Alice's things are intact, and her turn can still be approved and finished.
        alice = served.headers(served.alice)
        info = (await c.get(f"/v1/sessions/{world['session_id']}", headers=alice)).json()
        assert info["title"] != "stolen"
        assert [m["id"] for m in (await c.get("/v1/memory", headers=alice)).json()] == [
            world["memory_id"]
        ]
        r = await c.post(
            f"/v1/approvals/{world['call_id']}", json={"decision": "allow"}, headers=alice
        )
        assert r.status_code == 200, r.text
        hold.set()
        await asyncio.wait_for(task, 10)


async def test_same_answer_for_missing_and_foreign_sessions(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        world = await _alice_world(served, c)
        bob = served.headers(served.bob)
        foreign = await c.get(f"/v1/sessions/{world['session_id']}", headers=bob)
        missing = await c.get("/v1/sessions/s_doesnotexist", headers=bob)
        assert foreign.status_code == missing.status_code == 404
        assert _err(foreign)["hint"] == _err(missing)["hint"]


async def test_admin_reaches_any_user(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        world = await _alice_world(served, c)
        admin = served.headers(served.admin)
        r = await c.get(f"/v1/sessions/{world['session_id']}/messages", headers=admin)
        assert r.status_code == 200 and "alice secret plan" in r.text
        as_alice = served.headers(served.admin, **{"x-muxi-user-id": "alice"})
        r = await c.get("/v1/memory", headers=as_alice)
        assert [m["id"] for m in r.json()] == [world["memory_id"]]
        # An admin continuing alice's session acts as alice.
        r = await c.post(
            "/v1/chat", json={"message": "more", "session_id": world["session_id"]}, headers=admin
        )
        assert r.status_code == 200
        assert served.runtime.sessions_[world["session_id"]].message_count == 4


@pytest.mark.parametrize(("who", "expected"), [("alice", "allow"), ("admin", "always")])
async def test_only_an_admin_can_always_allow(served: Served, who: str, expected: str) -> None:
    # "always" is saved server-wide: a user key's "always" counts for this call only.
    served.runtime.script(Script(text="done", tool=True))
    key = getattr(served, who)
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as c:
        got_pending = asyncio.Event()
        call: dict[str, str] = {}

        async def turn() -> list[str]:
            decisions = []
            async with c.stream(
                "POST",
                "/v1/chat",
                json={"message": "use a tool", "approval": "interactive"},
                headers={**served.headers(key), "accept": "text/event-stream"},
            ) as resp:
                async for line in resp.aiter_lines():
                    if line.startswith("data: "):
                        ev = decode(line[6:])
                        if isinstance(ev, ToolApproval):
                            decisions.append(ev.decision)
                            if ev.decision == "pending":
                                call["id"] = ev.call_id
                                got_pending.set()
            return decisions

        task = asyncio.create_task(turn())
        await asyncio.wait_for(got_pending.wait(), 10)
        r = await c.post(
            f"/v1/approvals/{call['id']}", json={"decision": "always"}, headers=served.headers(key)
        )
        assert r.status_code == 200, r.text
        assert r.json()["decision"] == expected
        assert await asyncio.wait_for(task, 10) == ["pending", "allowed"]
    assert served.runtime.decisions == [(call["id"], expected)]


def test_every_v1_route_is_listed(tmp_path: Path) -> None:
    """Every authenticated route the app serves is in ``ROUTES`` (audio's in
    ``AUDIO_ROUTES``), so the no-key and cross-user tests above cover it; the
    others are the public schema routes."""
    from muxi_cli.server.apispec import PUBLIC_ROUTES
    from muxi_cli.server.app import create_app
    from muxi_cli.server.audio_routes import AUDIO_ROUTES
    from tests.server.fakeruntime import FakeRuntime

    app = create_app(FakeRuntime(), KeyStore(tmp_path / "keys.json"), access_log=False)
    served = {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in ops
    }
    listed = {(m, p) for m, p, _ in [*ROUTES, *AUDIO_ROUTES]} | set(PUBLIC_ROUTES)
    assert served - listed == set()
