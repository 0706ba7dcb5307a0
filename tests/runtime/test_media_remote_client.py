"""RemoteRuntime's media calls against a small app speaking the server's media contract.

The app (FastAPI, served by uvicorn on 127.0.0.1) checks what the client sends:
a multipart upload with the file in field ``file`` and an optional form field
``media_type``, the acting user's header, and answers like ``muxi serve``:
``201`` with a MediaRef's dict, errors as ``{"error": {...}}``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from muxi_cli.errors import MediaError, MediaTooLargeError, NotFoundError
from muxi_cli.protocol.messages import MediaRef
from muxi_cli.runtime.remote import RemoteRuntime

LIMIT = 1000


@dataclass
class Stub:
    url: str
    uploads: list[dict[str, Any]] = field(default_factory=list)
    files: dict[tuple[str, str], tuple[MediaRef, bytes]] = field(default_factory=dict)


def _app(stub: Stub) -> FastAPI:
    app = FastAPI()

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

    def owner(request: Request) -> str:
        return request.headers.get("x-muxi-user-id") or "key-user"

    @app.post("/v1/media")
    async def upload(request: Request) -> Any:
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return error(422, "bad_media", "no file")
        data = await upload.read()
        stub.uploads.append(
            {
                "filename": upload.filename,
                "content_type": upload.content_type,
                "media_type": form.get("media_type"),
                "user": owner(request),
                "auth": request.headers.get("authorization"),
                "size": len(data),
            }
        )
        if len(data) > LIMIT:
            return error(413, "media_too_large", f"{len(data)} bytes is too large")
        if not data.startswith(b"\x89PNG"):
            return error(422, "bad_media", "not an image muxi can read")
        ref = MediaRef(
            hashlib.sha256(data).hexdigest(), "image/png", len(data), upload.filename, {"width": 1}
        )
        stub.files[(owner(request), ref.id)] = (ref, data)
        return JSONResponse(ref.to_dict(), status_code=201)

    @app.get("/v1/media/{media_id}/info")
    async def info(media_id: str, request: Request) -> Any:
        found = stub.files.get((owner(request), media_id))
        return found[0].to_dict() if found else error(404, "not_found", "no such media")

    @app.get("/v1/media/{media_id}")
    async def get(media_id: str, request: Request) -> Any:
        found = stub.files.get((owner(request), media_id))
        if not found:
            return error(404, "not_found", "no such media")
        return Response(found[1], media_type=found[0].media_type)

    @app.get("/v1/sessions/{session_id}/media")
    async def session_media(session_id: str, request: Request) -> Any:
        if session_id != "s_one":
            return error(404, "not_found", "no such session")
        return [ref.to_dict() for (who, _), (ref, _) in stub.files.items() if who == owner(request)]

    return app


@pytest.fixture(params=["tcp", "unix"])
async def stub(request: pytest.FixtureRequest, sock_dir: Path) -> AsyncIterator[Stub]:
    """The app on loopback (the client speaks httpx) or on a Unix socket (its own client)."""
    import uvicorn

    from tests.net import free_port

    if request.param == "unix":
        sock = sock_dir / "media.sock"
        stub = Stub(f"unix:{sock}")
        config = uvicorn.Config(_app(stub), uds=str(sock), log_level="error")
    else:
        port = free_port()
        stub = Stub(f"http://127.0.0.1:{port}")
        config = uvicorn.Config(_app(stub), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):  # bounded wait for the listener
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "the stub server did not start"
        yield stub
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


def _png(extra: int = 0) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"x" * (32 + extra)


async def test_upload_get_info_and_session_media(stub: Stub) -> None:
    runtime = RemoteRuntime(stub.url, "mk_test")
    try:
        ref = await runtime.put_media(_png(), name="shot.png", media_type="image/png")
        assert ref.name == "shot.png" and ref.media_type == "image/png" and ref.size == 40
        assert ref.meta == {"width": 1}
        [sent] = stub.uploads
        assert sent["filename"] == "shot.png" and sent["media_type"] == "image/png"
        assert sent["auth"] == "Bearer mk_test" and sent["size"] == 40
        got, data = await runtime.get_media(ref.id)
        assert got == ref and data == _png()
        assert await runtime.session_media("s_one") == [ref]
    finally:
        await runtime.aclose()


async def test_type_is_left_to_the_server_and_users_are_separate(stub: Stub) -> None:
    runtime = RemoteRuntime(stub.url, "mk_admin")
    try:
        ref = await runtime.put_media(_png(1), user_id="alice")
        sent = stub.uploads[-1]
        assert sent["media_type"] is None and sent["user"] == "alice"
        assert sent["filename"] == "upload"
        assert (await runtime.get_media(ref.id, user_id="alice"))[1] == _png(1)
        with pytest.raises(NotFoundError):
            await runtime.get_media(ref.id, user_id="bob")
        assert await runtime.session_media("s_one", user_id="bob") == []
    finally:
        await runtime.aclose()


async def test_server_refusals_become_media_errors(stub: Stub) -> None:
    runtime = RemoteRuntime(stub.url, "mk_test")
    try:
        with pytest.raises(MediaTooLargeError) as too_large:
            await runtime.put_media(_png(LIMIT), name="big.png")
        assert too_large.value.exit_code == 2 and too_large.value.code == "media_too_large"
        with pytest.raises(MediaError) as bad:
            await runtime.put_media(b"%PDF-1.4 not really", name="x.png")
        assert bad.value.code == "bad_media" and bad.value.exit_code == 2
        with pytest.raises(NotFoundError):
            await runtime.session_media("s_other")
    finally:
        await runtime.aclose()
