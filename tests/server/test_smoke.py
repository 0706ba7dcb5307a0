from __future__ import annotations

import httpx

from muxi_cli.protocol.records import ChatRequest
from tests.server.conftest import Served


async def test_health_and_chat(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await c.get("/health")
        assert r.status_code == 200 and r.json()["ok"] is True
        r = await c.post("/v1/chat", json={"message": "hi"}, headers=served.headers(served.alice))
        assert r.status_code == 200, r.text
        assert r.json()["reply"] == "echo: hi"
    rt = served.remote(served.alice)
    try:
        events = [e async for e in (await rt.chat(ChatRequest(message="yo"))).events()]
        assert events[0].type == "run.started"
        assert events[-1].type == "run.completed"
    finally:
        await rt.aclose()
