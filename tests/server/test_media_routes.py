"""``/v1/media``: upload, download, info, delete, session media, per caller."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import httpx
import pytest

from tests.server.conftest import Served


def png(color: str = "red", size: tuple[int, int] = (8, 6)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


async def upload(
    c: httpx.AsyncClient,
    served: Served,
    key: str,
    data: bytes,
    name: str = "shot.png",
    media_type: str | None = None,
    **headers: str,
) -> httpx.Response:
    form = {"media_type": media_type} if media_type else None
    return await c.post(
        "/v1/media",
        files={"file": (name, data, "application/octet-stream")},
        data=form,
        headers=served.headers(key, **headers),
    )


def err(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body["error"]) >= {"code", "message", "hint"}, body
    return dict(body["error"])


async def test_upload_download_info_delete(served: Served) -> None:
    data = png()
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await upload(c, served, served.alice, data)
        assert r.status_code == 201, r.text
        ref = r.json()
        assert ref["id"] == hashlib.sha256(data).hexdigest()
        assert (ref["media_type"], ref["size"], ref["name"]) == ("image/png", len(data), "shot.png")

        alice = served.headers(served.alice)
        got = await c.get(f"/v1/media/{ref['id']}", headers=alice)
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-type"] == "image/png"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"].startswith('attachment; filename="shot.png"')

        info = await c.get(f"/v1/media/{ref['id']}/info", headers=alice)
        assert info.status_code == 200 and info.json()["id"] == ref["id"]

        usage = (await c.get("/v1/media", headers=alice)).json()
        assert usage["used"] == len(data) and usage["user_id"] == "alice"

        assert (await c.delete(f"/v1/media/{ref['id']}", headers=alice)).status_code == 204
        assert (await c.get(f"/v1/media/{ref['id']}", headers=alice)).status_code == 404
        assert (await c.get("/v1/media", headers=alice)).json()["used"] == 0


async def test_same_bytes_twice_cost_once(served: Served) -> None:
    data = png("blue")
    async with httpx.AsyncClient(base_url=served.url) as c:
        first = (await upload(c, served, served.alice, data)).json()
        second = (await upload(c, served, served.alice, data, name="again.png")).json()
        assert first["id"] == second["id"]
        used = (await c.get("/v1/media", headers=served.headers(served.alice))).json()["used"]
        assert used == len(data)


async def test_claimed_type_must_agree_with_the_bytes(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await upload(c, served, served.alice, png(), media_type="application/pdf")
        assert r.status_code == 422, r.text
        assert err(r)["code"] == "bad_media"
        used = (await c.get("/v1/media", headers=served.headers(served.alice))).json()["used"]
        assert used == 0


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.png", "photo.png"),
        ("ev\u202eil.png", "evil.png"),
        ("..", None),
    ],
)
async def test_file_names_lose_directories_and_control_characters(
    served: Served, raw: str, shown: str | None
) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await upload(c, served, served.alice, png(), name=raw)
        assert r.status_code == 201, r.text
        assert r.json().get("name") == shown


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"json": {"file": "x"}}, "multipart"),
        ({"files": {"other": ("a.png", b"x")}}, "unexpected form field"),
        ({"data": {"media_type": "image/png"}, "files": {}}, "multipart"),
        ({"files": [("file", ("a", b"1")), ("file", ("b", b"2"))]}, "one file"),
        ({"files": {"file": ("a.png", b"")}}, "empty"),
        ({"files": {"file": ("a.png", b"x")}, "data": {"media_type": "x" * 300}}, "too long"),
    ],
)
async def test_malformed_uploads_are_400(
    served: Served, kwargs: dict[str, Any], needle: str
) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        r = await c.post("/v1/media", headers=served.headers(served.alice), **kwargs)
        assert r.status_code == 400, r.text
        assert needle in err(r)["message"]


async def test_another_users_media_is_not_found_like_a_missing_one(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        ref = (await upload(c, served, served.alice, png("green"))).json()
        bob = served.headers(served.bob)
        missing = "0" * 64
        for suffix in ("", "/info"):
            foreign = await c.get(f"/v1/media/{ref['id']}{suffix}", headers=bob)
            absent = await c.get(f"/v1/media/{missing}{suffix}", headers=bob)
            assert foreign.status_code == absent.status_code == 404
            assert err(foreign)["hint"] == err(absent)["hint"]
            assert err(foreign)["message"] == err(absent)["message"].replace(missing, ref["id"])
        assert (await c.delete(f"/v1/media/{ref['id']}", headers=bob)).status_code == 404
        # Alice still has it; bob's own store is empty.
        alice = served.headers(served.alice)
        assert (await c.get(f"/v1/media/{ref['id']}", headers=alice)).status_code == 200
        assert (await c.get("/v1/media", headers=bob)).json()["used"] == 0


async def test_admin_reaches_a_users_media_only_by_acting_as_them(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        ref = (await upload(c, served, served.alice, png("white"))).json()
        url = f"/v1/media/{ref['id']}/info"
        assert (await c.get(url, headers=served.headers(served.admin))).status_code == 404
        as_alice = served.headers(served.admin, **{"x-muxi-user-id": "alice"})
        assert (await c.get(url, headers=as_alice)).status_code == 200
        shared = served.headers(served.admin, **{"x-muxi-user-id": "*"})
        assert (
            await upload(c, served, served.admin, png(), **{"x-muxi-user-id": "*"})
        ).status_code == 400
        assert (await c.get(url, headers=shared)).status_code == 400


async def test_chat_refers_to_own_uploads_and_session_lists_them(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        ref = (await upload(c, served, served.alice, png("navy"))).json()
        alice = served.headers(served.alice)
        body = {
            "message": "what is this",
            "attachments": [{"name": "shot.png", "media_id": ref["id"]}],
        }
        r = await c.post("/v1/chat", json=body, headers=alice)
        assert r.status_code == 200, r.text
        sid = r.json()["session_id"]
        assert served.runtime.requests[-1].attachments[0].media_id == ref["id"]
        listed = await c.get(f"/v1/sessions/{sid}/media", headers=alice)
        assert listed.status_code == 200
        assert [m["id"] for m in listed.json()] == [ref["id"]]
        # Bob sees neither the session's media nor the session.
        assert (
            await c.get(f"/v1/sessions/{sid}/media", headers=served.headers(served.bob))
        ).status_code == 404


async def test_chat_with_another_users_media_id_is_refused_before_the_turn(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as c:
        ref = (await upload(c, served, served.alice, png("olive"))).json()
        before = len(served.runtime.requests)
        body = {"message": "steal", "attachments": [{"name": "x.png", "media_id": ref["id"]}]}
        r = await c.post("/v1/chat", json=body, headers=served.headers(served.bob))
        assert r.status_code == 404, r.text
        assert err(r)["code"] == "not_found"
        assert len(served.runtime.requests) == before  # no turn started
        # Not an id at all, and content with an id: 400 before anything else.
        for att in (
            {"name": "x", "media_id": "../../etc/passwd"},
            {"name": "x", "media_id": ref["id"], "content": "aGk="},
        ):
            r = await c.post(
                "/v1/chat",
                json={"message": "x", "attachments": [att]},
                headers=served.headers(served.alice),
            )
            assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    "name",
    ['a"; filename="evil.html', "résumé ünïcode.png", "semi;colon\\back.png"],
)
async def test_download_names_cannot_inject_header_parameters(served: Served, name: str) -> None:
    from urllib.parse import unquote

    async with httpx.AsyncClient(base_url=served.url) as c:
        ref = (await upload(c, served, served.alice, png("teal"), name=name)).json()
        got = await c.get(f"/v1/media/{ref['id']}", headers=served.headers(served.alice))
    header = got.headers["content-disposition"]
    kind, plain, extended = (p.strip() for p in header.split(";"))
    assert kind == "attachment"
    assert plain.startswith('filename="') and plain.endswith('"') and '"' not in plain[10:-1]
    assert extended.startswith("filename*=UTF-8''")
    assert unquote(extended[len("filename*=UTF-8''") :]) == ref["name"]  # whole, RFC 5987
