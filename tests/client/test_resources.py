"""Sessions, memory, media and keys through the Python client, against a real ``muxi serve``."""

from __future__ import annotations

from pathlib import Path

import pytest

from muxi_cli.client import AsyncClient, errors
from muxi_cli.protocol.events import TextDelta
from tests.client.conftest import Served
from tests.fakellm import Slow, Text


async def test_me_health_agents(client: AsyncClient, admin: AsyncClient) -> None:
    me = await client.me()
    assert (me["role"], me["user_id"]) == ("user", "alice")
    assert (await admin.me())["role"] == "admin"
    assert (await client.health())["version"]
    assert [a["name"] for a in await client.agents()] == ["assistant"]


async def test_sessions(client: AsyncClient, served: Served) -> None:
    served.llm.script(Text("noted"))
    done = await (await client.chat("remember the blue door", title="doors"))
    sid = done.session_id
    assert sid in [s["id"] for s in await client.sessions.list()]
    assert [s["id"] for s in await client.sessions.list(query="doors", limit=5)] == [sid]
    assert (await client.sessions.get(sid))["title"] == "doors"
    said = await client.sessions.messages(sid)
    assert [m["role"] for m in said] == ["user", "assistant"]
    assert (await client.sessions.rename(sid, "windows"))["title"] == "windows"
    assert "blue door" in await client.sessions.export(sid)
    assert '"messages"' in await client.sessions.export(sid, fmt="json")
    await client.sessions.delete(sid)
    with pytest.raises(errors.NotFound) as caught:
        await client.sessions.get(sid)
    assert (caught.value.status, caught.value.code) == (404, "not_found")


async def test_memory(client: AsyncClient) -> None:
    item = await client.memory.add("The user's favourite drink is green tea")
    assert item["id"] in [m["id"] for m in await client.memory.list()]
    assert item["id"] in [m["id"] for m in await client.memory.list(kind="fact", limit=50)]
    found = await client.memory.search("favourite drink green tea", limit=3)
    assert item["id"] in [m["id"] for m in found]
    assert (await client.memory.get(item["id"]))["text"] == item["text"]
    newer = await client.memory.add("The user now drinks coffee", replaces=[item["id"]])
    assert newer["id"] != item["id"]
    await client.memory.forget(newer["id"])
    with pytest.raises(errors.NotFound):
        await client.memory.get(newer["id"])
    with pytest.raises(errors.BadRequest) as caught:
        await client.memory.add("x", kind="no-such-kind")
    assert caught.value.status in (400, 422)


async def test_media_upload_info_download_delete(client: AsyncClient, tmp_path: Path) -> None:
    png = tmp_path / "dot.txt"
    png.write_text("a small text file\n", encoding="utf-8")
    ref = await client.media.upload(png)
    assert (ref["name"], ref["size"]) == ("dot.txt", png.stat().st_size)
    assert ref["media_type"].startswith("text/plain")
    assert (await client.media.info(ref["id"]))["id"] == ref["id"]
    assert await client.media.download(ref["id"]) == png.read_bytes()
    usage = await client.media.usage()
    assert usage["used"] >= ref["size"] and usage["max_upload"] == 1024 * 1024
    raw = await client.media.upload(b"some bytes\n", name="b.txt", media_type="text/plain")
    assert raw["size"] == 11 and raw["name"] == "b.txt"
    with pytest.raises(errors.BadRequest) as refused:
        await client.media.upload(b"\x00\x01 bytes", name="blob.bin")
    assert (refused.value.status, refused.value.code) == (422, "bad_media")
    await client.media.delete(ref["id"])
    with pytest.raises(errors.NotFound):
        await client.media.info(ref["id"])


async def test_an_upload_over_the_limit_is_413(client: AsyncClient) -> None:
    with pytest.raises(errors.PayloadTooLarge) as caught:
        await client.media.upload(b"x" * (1024 * 1024 + 10), name="big.txt")
    assert caught.value.status == 413
    assert caught.value.code in ("media_too_large", "payload_too_large")


async def test_keys_need_an_admin_key(
    client: AsyncClient, admin: AsyncClient, served: Served
) -> None:
    made = await admin.keys.create(role="user", user_id="carol", label="ci", scopes=["*"])
    assert made["key"].startswith("muxi_") and made["user_id"] == "carol"
    listed = {k["id"]: k for k in await admin.keys.list()}
    assert listed[made["id"]]["label"] == "ci" and "key" not in listed[made["id"]]
    async with AsyncClient(served.url, made["key"]) as carol:
        assert (await carol.me())["user_id"] == "carol"
        revoked = await admin.keys.revoke(made["id"])
        assert revoked["active"] is False
        with pytest.raises(errors.Unauthorized) as caught:
            await carol.me()
        assert caught.value.status == 401
    for call in (client.keys.list(), client.keys.create(user_id="eve"), client.keys.revoke("x")):
        with pytest.raises(errors.Forbidden) as refused:
            await call
        assert refused.value.status == 403
        assert isinstance(refused.value, errors.MissingScope) and refused.value.scope == "admin"


async def test_an_admin_acts_for_a_user(served: Served, client: AsyncClient) -> None:
    """``user_id``: every request acts for that user, the turn's follow-ups too."""
    async with AsyncClient(served.url, served.admin_key, user_id="alice") as as_alice:
        assert (await as_alice.me())["user_id"] == "alice"
        for transport in ("sse", "ws"):
            served.llm.script(Slow("one two three four five six", delay=0.3))
            turn = await as_alice.chat("slowly", transport=transport)
            async for event in turn:
                if isinstance(event, TextDelta):
                    await turn.cancel()
            assert (await turn).status == "cancelled"
            assert (await client.sessions.get(turn.session_id))["user_id"] == "alice"
        item = await as_alice.memory.add("Alice keeps bees")
        assert (await client.memory.get(item["id"]))["text"] == "Alice keeps bees"
    async with AsyncClient(served.url, served.user_key, user_id="bob") as sneaky:
        assert (await sneaky.me())["user_id"] == "alice"  # a user key is always its own user
