"""Keys shared by two replicas: a key revoked through one is refused by the other."""

from __future__ import annotations

import asyncio
import json

import httpx

from muxi_cli.errors import ServerAuthError
from tests.server.fakeruntime import Script
from tests.server.replicas import Pair

SSE = {"accept": "text/event-stream"}


async def test_a_key_revoked_on_one_replica_is_refused_by_the_other(pair: Pair) -> None:
    pair.b.runtime.script(Script(text="held here forever", hold=asyncio.Event()))
    async with (
        httpx.AsyncClient(base_url=pair.a.url) as ca,
        httpx.AsyncClient(base_url=pair.b.url) as cb,
    ):
        made = await ca.post(
            "/v1/keys", json={"role": "user", "user_id": "carol"}, headers=pair.headers(pair.admin)
        )
        carol, carol_id = made.json()["key"], made.json()["id"]
        assert (await cb.get("/v1/me", headers=pair.headers(carol))).json()["user_id"] == "carol"
        async with cb.stream(
            "POST", "/v1/chat", json={"message": "go"}, headers={**pair.headers(carol), **SSE}
        ) as resp:
            lines = resp.aiter_lines()
            first = [
                json.loads(line[6:]) async for line in _until_text(lines) if line[:6] == "data: "
            ]
            r = await ca.delete(f"/v1/keys/{carol_id}", headers=pair.headers(pair.admin))
            assert r.status_code == 200
            assert (await cb.get("/v1/me", headers=pair.headers(carol))).status_code == 401
            # The open stream on the other replica ends at its next key check.
            rest = await asyncio.wait_for(_events(lines), 10)
    assert first and rest[-1]["type"] == "run.failed"
    assert rest[-1]["error"]["code"] == ServerAuthError.code


async def _until_text(lines):  # type: ignore[no-untyped-def]
    async for line in lines:
        yield line
        if '"text.delta"' in line:
            return


async def _events(lines) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    return [json.loads(line[6:]) async for line in lines if line[:6] == "data: "]


async def test_a_key_with_a_nul_in_a_websocket_auth_frame_is_refused_cleanly(pair: Pair) -> None:
    from websockets.asyncio.client import connect

    # PostgreSQL text cannot hold NUL: the key id went to the lookup and its
    # DataError closed the socket with no answer (and no failed attempt counted).
    async with connect("ws" + pair.a.url[4:] + "/v1/ws") as ws:
        await ws.send(json.dumps({"type": "auth", "key": "muxi_ab\x00cd_" + "x" * 43}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert answer["type"] == "error" and answer["error"]["code"] == ServerAuthError.code
    async with httpx.AsyncClient(base_url=pair.a.url) as c:
        me = await c.get("/v1/me", headers=pair.headers(pair.alice))
    assert me.status_code == 200  # the key store still answers
